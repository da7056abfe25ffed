/**
 * Where backups are kept. The interface is the smallest that object storage
 * can also implement (a write that becomes visible only when committed, like
 * a completed multipart upload; reads; listing by prefix; deletion): local
 * directories here, S3-compatible buckets in src/backup/s3-destination.ts.
 *
 * Keys are `/`-separated: `<project>/<backup id>/<file>`.
 *
 * Not for workflow code (Node I/O): activities use it. openDestination, which
 * picks one of them for a destination's name, is in open-destination.ts: both
 * implementations import this module, and this module imports neither.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../files/private';
import { PROJECT_NAME_RULE, isProjectName } from '../model/names';
import { BACKUP_ID_PATTERN } from './ids';

export interface PendingWrite {
  /** Write the content here; it is invisible under its key until commit. */
  stream: Writable;
  /** Make the content visible under its key, durably and atomically. Call after the stream finished. */
  commit(): Promise<void>;
  /** Drop what was written. */
  abort(): Promise<void>;
}

export interface BackupDestination {
  /** For messages: "local directory /var/lib/dockflow/backups". */
  readonly description: string;
  exists(key: string): Promise<boolean>;
  /** `token` makes the temporary name unique to one writer (workflow and attempt). */
  openWrite(key: string, token: string): Promise<PendingWrite>;
  /** Remove temporary files an earlier writer with this token prefix left for `key`. */
  discardPending(key: string, tokenPrefix: string): Promise<void>;
  openRead(key: string): Promise<Readable>;
  readText(key: string): Promise<string | undefined>;
  /** Atomic: readers see the old content or the new, never part of it. */
  writeText(key: string, text: string, token: string): Promise<void>;
  /** Names directly under a prefix (`<project>` → backup IDs). */
  list(prefix: string): Promise<string[]>;
  /** Remove a key or everything under a prefix; nothing there is fine. */
  remove(keyOrPrefix: string): Promise<void>;
}

/** The destination could not be used; the message names it. */
export class DestinationError extends Error {}

export class LocalDirectoryDestination implements BackupDestination {
  readonly description: string;

  constructor(readonly root: string) {
    if (!path.isAbsolute(root)) throw new DestinationError(`backup destination ${root} must be an absolute directory path on the worker's host`);
    this.description = `local directory ${root}`;
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...backupKeyParts(key));
  }

  async exists(key: string): Promise<boolean> {
    return fs.existsSync(this.pathOf(key));
  }

  async openWrite(key: string, token: string): Promise<PendingWrite> {
    const final = this.pathOf(key);
    const temp = `${final}.partial-${token}`;
    // Archives and manifests hold the project's data and its secrets: 0600 files in 0700 directories.
    ensurePrivateDir(path.dirname(final), this.root);
    const stream = fs.createWriteStream(temp, { flags: 'w', mode: PRIVATE_FILE_MODE });
    return {
      stream,
      commit: async () => {
        await fsyncFile(temp);
        await fs.promises.rename(temp, final);
        await fsyncFile(path.dirname(final));
      },
      abort: async () => {
        stream.destroy();
        await fs.promises.rm(temp, { force: true });
      },
    };
  }

  async discardPending(key: string, tokenPrefix: string): Promise<void> {
    const final = this.pathOf(key);
    const dir = path.dirname(final);
    const prefix = `${path.basename(final)}.partial-${tokenPrefix}`;
    const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
    for (const name of names) if (name.startsWith(prefix)) await fs.promises.rm(path.join(dir, name), { force: true });
  }

  async openRead(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    // Open first so a missing file is an error here, not later inside a pipeline.
    const handle = await fs.promises.open(file, 'r');
    // 1 MiB reads: with the default 64 KiB, hashing and gunzipping an archive cost five times as long.
    return handle.createReadStream({ highWaterMark: 1024 * 1024 });
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      return await fs.promises.readFile(this.pathOf(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writeText(key: string, text: string, token: string): Promise<void> {
    const pending = await this.openWrite(key, token);
    await new Promise<void>((resolve, reject) => {
      pending.stream.on('error', reject);
      pending.stream.end(text, () => resolve());
    });
    await pending.commit();
  }

  async list(prefix: string): Promise<string[]> {
    try {
      return (await fs.promises.readdir(this.pathOf(prefix))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async remove(keyOrPrefix: string): Promise<void> {
    await fs.promises.rm(this.pathOf(keyOrPrefix), { recursive: true, force: true });
  }
}

/**
 * The parts of a key, checked against the layout `<project>/<backup id>/<file>`
 * (or a prefix of it): a project name by compose's rule, a backup ID, one
 * plain file name. Whatever a caller passes, a key then names a place inside
 * its own project's folder, never another project's nor outside the root.
 */
export function backupKeyParts(key: string): string[] {
  const parts = key.split('/').filter(Boolean);
  const [project, backupId, file, ...rest] = parts;
  const problem =
    project === undefined
      ? 'it is empty'
      : !isProjectName(project)
        ? `${JSON.stringify(project)} is not a valid project name: ${PROJECT_NAME_RULE}`
        : backupId !== undefined && !BACKUP_ID_PATTERN.test(backupId)
          ? `${JSON.stringify(backupId)} is not a backup ID (such as 20261122-030000-1a2b3c4d)`
          : file === '.' || file === '..' || rest.length > 0
            ? 'keys are <project>/<backup id>/<file>'
            : undefined;
  if (problem) throw new DestinationError(`invalid backup key ${JSON.stringify(key)}: ${problem}`);
  return parts;
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
