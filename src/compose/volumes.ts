/**
 * Service volume short syntax, as compose reads it:
 *
 *   "/path"                 anonymous volume at /path
 *   "name:/path[:opts]"     named volume (must be declared top-level)
 *   "/abs:/path[:opts]"     bind mount; also "./rel", "../rel", "~/rel", "."
 *   opts: comma-separated ro | rw | nocopy, and the macOS-only no-ops
 *         cached | delegated | consistent
 *
 * Bind sources are returned as written; normalisation makes them absolute.
 */
import * as path from 'node:path';
import type { MountSpec } from '../model/spec';

const NO_OPS = new Set(['cached', 'delegated', 'consistent']);
// Options Docker honours but MountSpec cannot carry: refusing beats silently dropping them.
const UNSUPPORTED = new Set(['z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

export const isHostPath = (source: string) => /^[./~]/.test(source);

/** Container paths compare and merge in their clean form ("/data/" is "/data"). */
export function cleanTarget(target: string): string {
  return path.posix.normalize(target).replace(/(.)\/$/, '$1');
}

export function parseShortVolume(spec: string): MountSpec {
  if (spec === '') throw new Error('invalid volume "": empty');
  const parts = spec.split(':');
  if (parts.length > 3) throw new Error(`invalid volume "${spec}": too many colons`);
  if (parts.some((p) => p === '')) throw new Error(`invalid volume "${spec}": empty section between colons`);
  if (parts.length === 1) return { type: 'volume', target: checkTarget(spec, spec), readOnly: false };

  const [source, rawTarget, options = ''] = parts;
  const target = checkTarget(rawTarget, spec);
  let readOnly = false;
  let noCopy = false;
  for (const option of options ? options.split(',') : []) {
    if (option === 'ro') readOnly = true;
    else if (option === 'rw') readOnly = false;
    else if (option === 'nocopy') noCopy = true;
    else if (UNSUPPORTED.has(option)) throw new Error(`volume option "${option}" in "${spec}" is not supported by dockflow`);
    else if (!NO_OPS.has(option)) throw new Error(`invalid volume "${spec}": unknown option "${option}"`);
  }
  if (isHostPath(source)) return { type: 'bind', source, target, readOnly, createHostPath: true };
  return { type: 'volume', source, target, readOnly, ...(noCopy ? { noCopy: true } : {}) };
}

export function checkTarget(target: string, spec: string): string {
  if (!target.startsWith('/')) throw new Error(`invalid volume "${spec}": the container path "${target}" must be absolute`);
  return cleanTarget(target);
}

/** Container path of a short or long volume entry, the key volumes merge by. */
export function volumeTarget(entry: unknown): string | undefined {
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
    const target = (entry as { target?: unknown }).target;
    return typeof target === 'string' ? cleanTarget(target) : undefined;
  }
  if (typeof entry !== 'string') return undefined;
  try {
    return parseShortVolume(entry).target;
  } catch {
    return undefined;
  }
}
