/**
 * The compose loader: compose files in, a canonical StackSpec out, as
 * `docker compose` would read them, or a ComposeError naming file and key.
 *
 * Phases, in order:
 *
 *   0. sources      which files, which project directory, .env variables (sources.ts)
 *   1. parse        each file's YAML; syntax errors and duplicate keys name
 *                   file and line; !reset/!override noted (parse.ts)
 *   2. project name -p, COMPOSE_PROJECT_NAME, `name:`, directory (project.ts);
 *                   before interpolation so ${COMPOSE_PROJECT_NAME} works
 *   3. interpolate  ${VAR} forms in every string value of each file, from the
 *                   injected environment over the .env files (interpolate.ts)
 *   4. validate     each file on its own, so an unsupported key or a bad
 *                   value names the file it is in (schema.ts)
 *   5. merge        the files in order, later over earlier, recording which
 *                   file each value came from (merge.ts, paths.ts)
 *   6. validate     the merged document, decoding it (schema.ts)
 *   7. profiles     which services are enabled (profiles.ts)
 *   8. normalize    canonical form of the enabled services, their networks
 *                   and volumes; cross-references checked (normalize.ts)
 *   9. dependencies optional ones dropped, missing/disabled/cyclic refused
 *                   (profiles.ts)
 *  10. x-dockflow   dockflow's own keys and deploy hooks (src/model/hooks.ts)
 *  11. bind         the result must pass StackSpec (src/model/spec.ts)
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { StackSpec } from '../model/spec';
import { HookSettingsError, stackHooks } from '../model/hooks';
import { ComposeError } from './errors';
import { interpolate, type Lookup } from './interpolate';
import { mergeFiles } from './merge';
import { normalize } from './normalize';
import { parseComposeText, type ParsedFile } from './parse';
import { formatPath, Provenance } from './paths';
import { activeProfiles, enabledServices, resolveDependencies } from './profiles';
import { resolveProjectName } from './project';
import { validateDocument } from './schema';
import { displayName, readComposeFile, readEnvFiles, resolveSources } from './sources';

export { ComposeError } from './errors';
export { interpolate, interpolateString, type Environment, type InterpolateOptions, type Lookup } from './interpolate';
export { parseDuration, parseBytes } from '../model/units';
export { splitShellWords } from './shellwords';
export { parseDotEnv } from './dotenv';
export { parsePort } from './ports';
export { parseShortVolume } from './volumes';
export { normalizeProjectName } from './project';

export interface LoadOptions {
  /** -f files in order; absent or empty: COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml (plus its override file) in workingDir. */
  files?: string[];
  /** --project-directory; default: the first file's directory. Relative paths in the files resolve against it. */
  workingDir?: string;
  /** -p (highest precedence). */
  projectName?: string;
  /** --profile; absent: COMPOSE_PROFILES (comma separated) from the environment. */
  profiles?: string[];
  /** --env-file; default: <workingDir>/.env when it exists. */
  envFiles?: string[];
  /** The process environment; default process.env. Tests pass a plain map. */
  environment?: Record<string, string | undefined>;
  /** For "~" in host paths; default the user's home directory. */
  homeDir?: string;
}

export interface LoadResult {
  spec: StackSpec;
  warnings: string[];
}

const extensionsOf = (node: unknown): Record<string, unknown> =>
  node !== null && typeof node === 'object' && !Array.isArray(node) ? Object.fromEntries(Object.entries(node).filter(([k]) => k.startsWith('x-'))) : {};

export function loadStack(options: LoadOptions = {}): LoadResult {
  const environment = options.environment ?? process.env;
  const warnings: string[] = [];

  const { files, workingDir } = resolveSources(options, environment, warnings);
  const shown = (file: string) => displayName(file, workingDir);
  const dotenv = readEnvFiles(options.envFiles, workingDir, environment, warnings);
  const baseLookup: Lookup = (name) => environment[name] ?? dotenv[name];

  const parsed: ParsedFile[] = files.map((file) => parseComposeText(readComposeFile(file, shown(file)), shown(file)));

  const fileNames = parsed.map(({ file, doc }) => {
    const name = doc.name;
    if (typeof name === 'number' || typeof name === 'boolean') return String(name);
    return typeof name === 'string' ? interpolate(name, baseLookup, { file, path: ['name'], warnings }) : undefined;
  });
  const project = resolveProjectName(
    { option: options.projectName, environment: baseLookup('COMPOSE_PROJECT_NAME'), fileNames, files: parsed.map((p) => p.file), workingDir },
    warnings,
  );
  // compose defines COMPOSE_PROJECT_NAME for interpolation once the name is known.
  const lookup: Lookup = (name) => baseLookup(name) ?? (name === 'COMPOSE_PROJECT_NAME' ? project : undefined);

  const inputs = parsed.map(({ file, doc, lines, resets, overrides }) => {
    const provenance = Provenance.ofFile(file, lines);
    const interpolated = interpolate(doc, lookup, { file, warnings, fail: (p, reason) => provenance.error(p, reason) });
    validateDocument(interpolated, provenance);
    if ('version' in interpolated) {
      warnings.push(`${file}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
      delete interpolated.version;
    }
    return { file, doc: interpolated, resets, overrides };
  });

  const { doc: merged, provenance } = mergeFiles(inputs, new Map(parsed.map((p) => [p.file, p.lines])));
  const allFiles = parsed.map((p) => p.file).join(', ');
  if (Object.keys(merged).length === 0) throw new ComposeError('empty compose file', allFiles);
  const raw = validateDocument(merged, provenance);

  const enabled = enabledServices(raw, activeProfiles(options.profiles, lookup));
  const mergedServices = (merged.services ?? {}) as Record<string, unknown>;
  const spec = normalize(raw, enabled, {
    project,
    workingDir,
    composeFiles: files,
    homeDir: options.homeDir ?? os.homedir(),
    lookup,
    provenance,
    warnings,
    display: (file) => displayName(path.resolve(file), workingDir),
    extensions: {
      top: extensionsOf(merged),
      services: Object.fromEntries(enabled.map((name) => [name, extensionsOf(mergedServices[name])])),
    },
  });
  resolveDependencies(spec.services, raw, provenance);
  // x-dockflow keys and deploy hooks, so a typo names its file and key before anything runs.
  try {
    stackHooks(spec);
  } catch (err) {
    if (err instanceof HookSettingsError) throw provenance.error(err.path, err.reason);
    throw err;
  }

  const bound = StackSpec.safeParse(spec);
  if (!bound.success) {
    // Reaching this means normalize produced something the schema forbids: a loader bug, reported with its place.
    const issue = bound.error.issues[0];
    throw new ComposeError(`the loader produced an invalid spec (${issue.message})`, allFiles, formatPath(issue.path.filter((p) => typeof p !== 'symbol')));
  }
  return { spec: bound.data, warnings: [...new Set(warnings)] };
}
