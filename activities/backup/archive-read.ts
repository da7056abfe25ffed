/**
 * Reading an archive back: its sha256 and size, and what it decompresses to
 * (the tar's byte count, and with archiveChecker its tree digest). Used to
 * verify a backup (activities/backup/archives.ts) and to check an archive on
 * its way into a restore (activities/backup/restore.ts).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ArchiveEntry } from '../../src/backup/manifest';
import type { BackupDestination } from '../../src/backup/destination';
import type { decryptArchive } from '../../src/backup/archive-crypto';
import { TarDigest, type TarSummary } from '../../src/backup/tar-digest';
import { throttledHeartbeat, throwIfCancelled } from './context';

/** What reading an archive showed (src/backup/tar-digest.ts for `tree`). */
export interface ArchiveSeen {
  sha256: string;
  archiveBytes: number;
  tree?: TarSummary;
  problem?: string;
}

/**
 * Read an archive back in one pass: sha256 and size of the file, and (with
 * `decompress`) the size of the tar inside, which proves the gzip stream is
 * whole. A broken gzip stream does not stop the hash, so a corrupted file is
 * reported as a checksum mismatch, the finding that names what differs.
 */
export async function measure(
  dest: BackupDestination,
  key: string,
  decompress: boolean,
  decrypt?: ReturnType<typeof decryptArchive>,
): Promise<{ sha256: string; archiveBytes: number; contentBytes: number; gzipError?: string; keyId?: string }> {
  const input = await dest.openRead(key);
  const hash = createHash('sha256');
  const beat = throttledHeartbeat(`read back ${key}`);
  let archiveBytes = 0;
  let contentBytes = 0;
  let gzipError: string | undefined;
  // Output chunks as large as the reads: the default 16 KiB made verification 5× slower.
  const gunzip = decompress ? zlib.createGunzip({ chunkSize: 1024 * 1024 }) : undefined;
  gunzip?.on('data', (chunk: Buffer) => (contentBytes += chunk.length));
  // An encrypted archive is decrypted (each frame authenticated) on its way to the decompressor.
  const inflow = gunzip && decrypt ? decrypt : gunzip;
  const gunzipDone = new Promise<void>((resolve) => {
    if (!gunzip) return resolve();
    gunzip.on('end', resolve);
    gunzip.on('error', (err) => {
      gzipError = err.message;
      resolve();
    });
    if (inflow === decrypt) {
      decrypt!.pipe(gunzip);
      decrypt!.on('error', (err) => {
        gzipError = err.message;
        resolve();
      });
    }
  });
  for await (const chunk of input as AsyncIterable<Buffer>) {
    hash.update(chunk);
    archiveBytes += chunk.length;
    beat(archiveBytes);
    throwIfCancelled();
    if (inflow && gzipError === undefined && !inflow.write(chunk)) await Promise.race([once(inflow, 'drain'), gunzipDone]);
  }
  if (inflow && gzipError === undefined) inflow.end();
  await gunzipDone;
  const keyId = inflow === decrypt ? decrypt?.keyId() : undefined;
  return { sha256: hash.digest('hex'), archiveBytes, contentBytes, ...(gzipError !== undefined ? { gzipError } : {}), ...(keyId ? { keyId } : {}) };
}

/**
 * A pass-through that checks an archive on its way: sha256 and size of
 * the file, and its decompressed tar (byte count and tree digest).
 */
export function archiveChecker(step: string, decrypt?: Transform): { stream: Transform; seen: () => Promise<ArchiveSeen> } {
  const hash = createHash('sha256');
  let archiveBytes = 0;
  const tree = new TarDigest();
  let problem: string | undefined;
  const gunzip = zlib.createGunzip({ chunkSize: 1024 * 1024 });
  // An encrypted archive is decrypted (each frame authenticated) before it is decompressed and read.
  const inflow = decrypt ?? gunzip;
  gunzip.on('data', (chunk: Buffer) => {
    if (problem !== undefined) return;
    try {
      tree.write(chunk);
    } catch (err) {
      problem = `its tar is damaged: ${(err as Error).message}`;
    }
  });
  const gunzipDone = new Promise<void>((resolve) => {
    gunzip.on('end', resolve);
    gunzip.on('error', (err) => {
      problem ??= `it does not decompress: ${err.message}`;
      resolve();
    });
    if (decrypt) {
      decrypt.pipe(gunzip);
      decrypt.on('error', (err) => {
        problem ??= err.message;
        resolve();
      });
    }
  });
  const beat = throttledHeartbeat(step);
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      archiveBytes += chunk.length;
      beat(archiveBytes);
      if (problem !== undefined || inflow.write(chunk)) return done(null, chunk);
      // Wait for the decompressor to drain, or to fail.
      const go = () => done(null, chunk);
      Promise.race([once(inflow, 'drain'), gunzipDone]).then(go, go);
    },
    flush(done) {
      if (problem === undefined) inflow.end();
      done();
    },
  });
  return {
    stream,
    async seen() {
      await gunzipDone;
      let summary: TarSummary | undefined;
      if (problem === undefined) {
        try {
          summary = tree.end();
        } catch (err) {
          problem = `its tar is damaged: ${(err as Error).message}`;
        }
      }
      return { sha256: hash.digest('hex'), archiveBytes, ...(summary ? { tree: summary } : {}), ...(problem !== undefined ? { problem } : {}) };
    },
  };
}

/** Why an archive is not the one its manifest entry describes, if it is not. */
export function archiveProblem(seen: ArchiveSeen, entry: ArchiveEntry): string | undefined {
  if (seen.sha256 !== entry.sha256 || seen.archiveBytes !== entry.archiveBytes) {
    return `sha256 ${seen.sha256} (${seen.archiveBytes} bytes), expected ${entry.sha256} (${entry.archiveBytes} bytes)`;
  }
  if (seen.problem !== undefined || !seen.tree) return seen.problem ?? 'it could not be read';
  if (seen.tree.bytes !== entry.contentBytes) return `it decompresses to ${seen.tree.bytes} bytes of tar, not the ${entry.contentBytes} recorded`;
  return undefined;
}
