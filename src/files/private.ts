/**
 * Files that hold secrets at rest on the worker's host: revision files (the
 * whole resolved spec, environment values included), backup manifests and
 * archives. Only the worker's user may read them: files 0600 inside
 * directories 0700, whatever the umask, and directories an older version
 * created with wider modes are narrowed when written to again.
 *
 * Not for workflow code (Node I/O).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Make `dir` and every directory between `base` and it private (0700),
 * creating what is missing. `base` itself is created 0700 when missing but
 * left as it is when it exists: it may be a directory the operator shares
 * (a backup destination such as /srv/backups), and the private directories
 * below it are what keeps other users out. `dir` must be `base` or inside it.
 */
export function ensurePrivateDir(dir: string, base: string): string {
  const root = path.resolve(base);
  const target = path.resolve(dir);
  const rel = path.relative(root, target);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${target} is not inside ${root}`);
  if (!fs.existsSync(root)) fs.mkdirSync(root, { recursive: true, mode: PRIVATE_DIR_MODE });
  let current = root;
  for (const part of rel ? rel.split(path.sep) : []) {
    current = path.join(current, part);
    try {
      fs.mkdirSync(current, { mode: PRIVATE_DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // mkdir's mode passes through the umask, and an existing directory keeps its old mode: set it.
    if ((fs.statSync(current).mode & 0o777) !== PRIVATE_DIR_MODE) fs.chmodSync(current, PRIVATE_DIR_MODE);
  }
  return target;
}

/**
 * Write a file readable by its owner only, atomically: a temporary file
 * created 0600 (never wider, not even for a moment), synced, then renamed
 * over the target, so a crash leaves the old content or the new one.
 * The directory must exist (see ensurePrivateDir).
 */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  // 'wx': a file that already exists under this name (a stale one, a symlink) is never written through.
  const fd = fs.openSync(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, PRIVATE_FILE_MODE);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
