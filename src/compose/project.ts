/**
 * Project name phase. The first of these that is set and not empty wins:
 *
 *   1. the -p option (LoadOptions.projectName)
 *   2. COMPOSE_PROJECT_NAME (environment, then the .env file)
 *   3. the top-level `name:` of the last file that has one (interpolated)
 *   4. the base name of the project directory
 *
 * The result is normalised as compose normalises `name:` and directory
 * names: lowercase, characters other than a-z 0-9 _ - removed, leading _ and
 * - removed. An empty result is an error.
 */
import * as path from 'node:path';
import { PROJECT_NAME_MAX_LENGTH } from '../model/names';
import { ComposeError } from './errors';

/** compose-go's NormalizeProjectName. */
export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '');
}

export interface ProjectNameSources {
  option?: string;
  environment?: string;
  /** `name:` of each file in -f order, after interpolation; undefined where absent. */
  fileNames: (string | undefined)[];
  files: string[];
  workingDir: string;
}

export function resolveProjectName(sources: ProjectNameSources, warnings: string[]): string {
  const fromFiles = sources.fileNames.map((name, i) => ({ name, file: sources.files[i] })).filter((n) => n.name);
  const fromFile = fromFiles[fromFiles.length - 1];
  const candidates: { value: string | undefined; origin: string; file?: string; path?: string; explicit: boolean }[] = [
    { value: sources.option, origin: 'the -p option', explicit: true },
    { value: sources.environment, origin: 'COMPOSE_PROJECT_NAME', explicit: true },
    { value: fromFile?.name, origin: `name: in ${fromFile?.file}`, file: fromFile?.file, path: 'name', explicit: false },
    { value: path.basename(sources.workingDir), origin: `the project directory ${sources.workingDir}`, explicit: false },
  ];
  const chosen = candidates.find((c) => c.value !== undefined && c.value !== '');
  if (!chosen?.value) throw new ComposeError('no project name: pass -p', undefined, undefined);
  const name = normalizeProjectName(chosen.value);
  if (!name) {
    throw new ComposeError(
      `project name ${JSON.stringify(chosen.value)} from ${chosen.origin} has no usable characters (lowercase letters, digits, "_" and "-"); pass -p`,
      chosen.file,
      chosen.path,
    );
  }
  // The spec's (and every input's) rule also bounds the length: refuse it here, naming where the name came from.
  if (name.length > PROJECT_NAME_MAX_LENGTH) {
    throw new ComposeError(`project name from ${chosen.origin} is ${name.length} characters long, more than ${PROJECT_NAME_MAX_LENGTH}; pass -p`, chosen.file, chosen.path);
  }
  // compose refuses an explicit name that is not already normal; dockflow normalises it and says so.
  if (chosen.explicit && name !== chosen.value) warnings.push(`project name ${JSON.stringify(chosen.value)} from ${chosen.origin} was normalised to "${name}"`);
  return name;
}
