/**
 * The one rule for project names, everywhere a name arrives (CLI flags,
 * workflow inputs, the ledger, backups, state): compose's own, lowercase
 * letters, digits, "-" and "_", starting with a letter or digit. A name that
 * passes can never be a path ("..", "/") nor a Docker reference fragment
 * that means something else.
 */
export const PROJECT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
export const PROJECT_NAME_RULE = 'project names are lowercase letters, digits, "-" and "_", starting with a letter or digit';

/** Longer names are refused: they only reach file and Docker names, which have limits of their own. */
export const PROJECT_NAME_MAX_LENGTH = 200;

export function isProjectName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= PROJECT_NAME_MAX_LENGTH && PROJECT_NAME_PATTERN.test(name);
}
