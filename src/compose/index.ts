/**
 * The compose loader. Files go through these phases, in this order, as
 * `docker compose` loads them:
 *
 *   1. parse       YAML of each -f file (syntax errors name file and line)
 *   2. interpolate ${VAR} forms in every value, from the injected environment
 *                  over the project's .env (or --env-file)
 *   3. validate    each file on its own, so an unsupported key names its file
 *   4. merge       the files in order, later over earlier (merge.ts)
 *   5. normalize   short syntaxes, durations, paths, defaults (normalize.ts)
 *   6. profiles    drop services whose profiles are not enabled
 *   7. bind        the result is checked against the StackSpec schema
 *
 * The project name is -p, else COMPOSE_PROJECT_NAME, else `name:`, else the
 * project directory's name, normalised as compose does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { StackSpec } from '../model/spec';
import { topologicalOrder } from '../plan/order';
import { ComposeError } from './errors';
import { parseDotEnv } from './dotenv';
import { interpolateTree } from './interpolate';
import { mergeDocuments } from './merge';
import { normalize } from './normalize';
import { extensionsOf, validate } from './schema';

export { ComposeError } from './errors';
export { interpolateString, interpolateTree } from './interpolate';
export { parseDuration, parseBytes } from './units';
export { splitShellWords } from './shellwords';
export { parseDotEnv } from './dotenv';
export { parsePort } from './normalize';

export interface LoadOptions {
  /** -f files in order; absent: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml in workingDir. */
  files?: string[];
  /** --project-directory; default: the first file's directory. */
  workingDir?: string;
  /** -p (highest precedence). */
  projectName?: string;
  /** --profile; default: COMPOSE_PROFILES from the environment. */
  profiles?: string[];
  /** --env-file; default: <workingDir>/.env when it exists. */
  envFiles?: string[];
  /** The process environment; default process.env. */
  environment?: Record<string, string | undefined>;
  /** For "~" in bind mounts; default the user's home directory. */
  homeDir?: string;
}

export interface LoadResult {
  spec: StackSpec;
  warnings: string[];
}

const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

export function loadStack(options: LoadOptions): LoadResult {
  const environment = options.environment ?? process.env;
  const files = resolveFiles(options);
  const workingDir = path.resolve(options.workingDir ?? path.dirname(files[0]));
  const warnings = new Set<string>();

  // .env supplies interpolation values; the real environment wins over it.
  const envFiles = options.envFiles ?? (fs.existsSync(path.join(workingDir, '.env')) ? [path.join(workingDir, '.env')] : []);
  const dotenv: Record<string, string> = {};
  for (const file of envFiles) {
    const full = path.resolve(workingDir, file);
    if (!fs.existsSync(full)) throw new ComposeError(`env file ${full} not found`, full);
    try {
      Object.assign(dotenv, parseDotEnv(fs.readFileSync(full, 'utf8'), (name) => environment[name] ?? dotenv[name]));
    } catch (err) {
      throw new ComposeError((err as Error).message, full);
    }
  }
  const lookup = (name: string) => environment[name] ?? dotenv[name];

  const documents: Record<string, unknown>[] = [];
  for (const file of files) {
    const doc = parseFile(file);
    const interpolated = interpolateTree(doc, lookup, path.basename(file), '', warnings) as Record<string, unknown>;
    validate(interpolated, path.basename(file));
    if ('version' in interpolated) warnings.add(`${path.basename(file)}: the top-level "version" is obsolete and ignored`);
    documents.push(interpolated);
  }
  const merged = mergeDocuments(documents);
  const origin = files.map((f) => path.basename(f)).join(' + ');
  const raw = validate(merged, origin);

  const project = projectNameFrom(options.projectName ?? environment.COMPOSE_PROJECT_NAME ?? raw.name ?? path.basename(workingDir), origin);
  const sectionExtensions = (section: string) =>
    Object.fromEntries(Object.entries((merged[section] ?? {}) as Record<string, unknown>).map(([k, v]) => [k, extensionsOf(v)]));
  let spec = normalize(raw, {
    project,
    workingDir,
    composeFiles: files,
    origin,
    homeDir: options.homeDir ?? os.homedir(),
    lookup,
    serviceExtensions: sectionExtensions('services'),
    networkExtensions: sectionExtensions('networks'),
    volumeExtensions: sectionExtensions('volumes'),
    topExtensions: extensionsOf(merged),
  });
  spec = applyProfiles(spec, options.profiles ?? splitList(environment.COMPOSE_PROFILES), origin);
  try {
    topologicalOrder(spec);
  } catch (err) {
    throw new ComposeError((err as Error).message, origin, 'services');
  }
  const parsed = StackSpec.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeError(issue.message, origin, issue.path.join('.'));
  }
  return { spec: parsed.data, warnings: [...warnings] };
}

function resolveFiles(options: LoadOptions): string[] {
  if (options.files && options.files.length > 0) {
    return options.files.map((f) => {
      const full = path.resolve(options.workingDir ?? process.cwd(), f);
      if (!fs.existsSync(full)) throw new ComposeError(`compose file not found: ${full}`);
      return full;
    });
  }
  const dir = path.resolve(options.workingDir ?? process.cwd());
  const found = DEFAULT_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!found) throw new ComposeError(`no compose file in ${dir} (looked for ${DEFAULT_FILES.join(', ')}); pass -f`);
  return [found];
}

function parseFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true, merge: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line;
    throw new ComposeError(`invalid YAML${line ? ` at line ${line}` : ''}: ${e.message.split('\n')[0]}`, path.basename(file));
  }
  const value = doc.toJS({ maxAliasCount: 1000 });
  if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) {
    throw new ComposeError('the top level must be a mapping (services:, networks:, ...)', path.basename(file));
  }
  return value ?? {};
}

/** Compose's rule: lowercase, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

function projectNameFrom(candidate: string, origin: string): string {
  const name = normalizeProjectName(candidate);
  if (!name) throw new ComposeError(`project name "${candidate}" has no usable characters (a-z, 0-9, _ and -)`, origin, 'name');
  return name;
}

function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function applyProfiles(spec: StackSpec, active: string[], origin: string): StackSpec {
  const enabled = (profiles: string[]) => profiles.length === 0 || profiles.some((p) => active.includes(p) || active.includes('*'));
  const services = Object.fromEntries(Object.entries(spec.services).filter(([, s]) => enabled(s.profiles)));
  for (const service of Object.values(services)) {
    for (const [dep, d] of Object.entries(service.dependsOn)) {
      if (dep in services) continue;
      if (!d.required) {
        delete service.dependsOn[dep];
        continue;
      }
      const target = spec.services[dep];
      if (!target) throw new ComposeError(`service ${service.name} depends on undefined service ${dep}`, origin, `services.${service.name}.depends_on`);
      throw new ComposeError(
        `service ${service.name} depends on ${dep}, which is disabled by its profiles (enable one with --profile ${target.profiles.join(' or --profile ')})`,
        origin,
        `services.${service.name}.depends_on.${dep}`,
      );
    }
  }
  const usedNetworks = new Set(Object.values(services).flatMap((s) => Object.keys(s.networks)));
  const networks = Object.fromEntries(Object.entries(spec.networks).filter(([key]) => key !== 'default' || usedNetworks.has('default')));
  return { ...spec, services, networks };
}
