/**
 * The project's inputs on disk: which compose files, which project
 * directory, and the variables of the .env / --env-file files.
 *
 * File discovery follows docker compose: -f files in order; else
 * COMPOSE_FILE (separated by COMPOSE_PATH_SEPARATOR, default ":"); else the
 * first of compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml
 * in the project directory, plus the first override file found beside it
 * (compose.override.yml, compose.override.yaml, docker-compose.override.yml,
 * docker-compose.override.yaml).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DotEnvError, parseDotEnvDetailed } from './dotenv';
import { ComposeError } from './errors';

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
export const OVERRIDE_FILES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

/** A regular file (not a device, FIFO or directory, which a read would block on or refuse); false also for paths that cannot exist (ENOTDIR, ENAMETOOLONG). */
function isFile(p: string): boolean {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** How messages name a file: relative to the project directory when inside it, else absolute. */
export function displayName(file: string, workingDir: string): string {
  const rel = path.relative(workingDir, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

export interface ComposeSources {
  files: string[];
  workingDir: string;
}

export function resolveSources(
  options: { files?: string[]; workingDir?: string },
  environment: Readonly<Record<string, string | undefined>>,
  warnings: string[],
): ComposeSources {
  const base = path.resolve(options.workingDir ?? process.cwd());
  let files: string[];
  if (options.files && options.files.length > 0) files = options.files.map((f) => path.resolve(base, f));
  else if (environment.COMPOSE_FILE) {
    files = environment.COMPOSE_FILE.split(environment.COMPOSE_PATH_SEPARATOR || ':')
      .filter(Boolean)
      .map((f) => path.resolve(base, f));
  } else {
    const found = DEFAULT_FILES.filter((f) => isFile(path.join(base, f)));
    if (found.length === 0) throw new ComposeError(`no compose file in ${base} (looked for ${DEFAULT_FILES.join(', ')}); pass -f`);
    if (found.length > 1) warnings.push(`found several compose files in ${base} (${found.join(', ')}); using ${found[0]}`);
    const override = OVERRIDE_FILES.find((f) => isFile(path.join(base, f)));
    files = [found[0], ...(override ? [override] : [])].map((f) => path.join(base, f));
  }
  for (const file of files) {
    if (!isFile(file)) throw new ComposeError(`compose file not found: ${file}`);
  }
  return { files, workingDir: path.resolve(options.workingDir ?? path.dirname(files[0])) };
}

/**
 * Variables of the env files, later files over earlier ones. Values may use
 * ${VAR} from the process environment (which wins) and from keys read before.
 */
export function readEnvFiles(
  envFiles: string[] | undefined,
  workingDir: string,
  environment: Readonly<Record<string, string | undefined>>,
  warnings: string[],
): Record<string, string> {
  const defaultFile = path.join(workingDir, '.env');
  const files = envFiles ?? (isFile(defaultFile) ? [defaultFile] : []);
  const values: Record<string, string> = {};
  for (const file of files) {
    const full = path.resolve(workingDir, file);
    const shown = displayName(full, workingDir);
    try {
      const parsed = parseDotEnvDetailed(readEnvFile(full, shown), (name) => environment[name], values);
      Object.assign(values, parsed.values);
      for (const name of parsed.missing) warnings.push(`${shown}: the "${name}" variable is not set; defaulting to a blank string`);
    } catch (err) {
      if (err instanceof DotEnvError) throw new ComposeError(err.message, shown);
      throw err;
    }
  }
  return values;
}

/**
 * An env file the user named is read whatever kind of file it is (/dev/null,
 * a named pipe, <(...)), as compose does; only a failed read is an error.
 */
function readEnvFile(file: string, shown: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory' : `cannot be read: ${(err as Error).message}`;
    throw new ComposeError(`env file ${file} ${reason}`, shown);
  }
}

export function readComposeFile(file: string, shown: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ComposeError(`cannot read the file: ${(err as Error).message}`, shown);
  }
}
