/**
 * Archives: one data set read through the Docker API of a created (never
 * started) helper container, compressed, hashed (and encrypted) into the
 * destination under a partial name renamed when complete; and the
 * read-back that verifies every archive of a backup before it counts.
 */
import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorType } from '../../src/errors';
import { ARCHIVE_ROOT, helperName, partialSuffix } from '../../src/backup/ids';
import { ARCHIVE_ENCRYPTION, type ArchiveEntry } from '../../src/backup/manifest';
import type { BackupTarget } from '../../src/backup/plan';
import { parallelGzip } from '../../src/backup/parallel-gzip';
import { decryptArchive, encryptArchive } from '../../src/backup/archive-crypto';
import { currentContext, describeTarget, failure, helperLabels, throttledHeartbeat, type BackupContext } from './context';
import { inspectOrUndefined, messageOf, removeContainerIfPresent, statusOf } from './docker-common';
import { measure } from './archive-read';

export interface ArchiveTargetInput {
  project: string;
  backupId: string;
  operation: string;
  destination?: string;
  target: BackupTarget;
  /** Images to create the helper from, best first (src/backup/plan.ts helperImages). */
  images: string[];
  /** Encrypt the archive with the worker's key (src/backup/archive-crypto.ts). */
  encrypt?: boolean;
}

export type ArchiveResult =
  | { skipped: string }
  | (Omit<ArchiveEntry, 'key' | 'kind' | 'source' | 'services'> & { reused: boolean; skipped?: undefined });

export interface VerifyInput {
  project: string;
  backupId: string;
  destination?: string;
  archives: Pick<ArchiveEntry, 'key' | 'archive' | 'sha256' | 'archiveBytes' | 'contentBytes' | 'encryption'>[];
  /**
   * Compare size and sha256 only, without decompressing. Enough before a
   * restore: a complete backup's archives were decompressed and counted when
   * it was verified, and the same sha256 means the same bytes.
   */
  checksumOnly?: boolean;
}

const MOUNT = `/${ARCHIVE_ROOT}`;
/** Go's os.ModeDir, as Docker reports a path's mode in X-Docker-Container-Path-Stat. */
const GO_MODE_DIR = 2 ** 31;

/** Passes data through unchanged, telling `onCount` the running byte total (for heartbeat details and sizes). */
function counter(onCount: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      onCount(bytes);
      done(null, chunk);
    },
  });
}

/** sha256 and size of what passes through. */
function hasher(): Transform & { digest: () => { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { digest: () => { sha256: string; bytes: number } };
  t.digest = () => ({ sha256: hash.digest('hex'), bytes });
  return t;
}

export function createArchiveActivities(ctx: BackupContext) {
  const { docker, requireEncryption, keysFor, decryptorFor, destinationOf, firstImageOnHost, roundTrips } = ctx;
  return {
    /**
     * Archive one data set into the destination: tar from the Docker API of a
     * created (never started) helper container that mounts it read-only,
     * gzip, sha256, a partial file renamed when complete.
     */
    async archiveTarget(input: ArchiveTargetInput): Promise<ArchiveResult> {
      const { project, target } = input;
      const what = describeTarget(project, target);
      const dest = destinationOf(input.destination, project, [input.backupId]);
      const key = `${project}/${input.backupId}/${target.archive}`;

      let volume: ArchiveEntry['volume'];
      if (target.kind === 'volume') {
        try {
          const v = await docker.getVolume(target.source).inspect();
          volume = { driver: v.Driver, labels: v.Labels ?? {}, options: v.Options ?? {} };
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          throw failure(`${what} does not exist on this host (was the project deployed?)`, ErrorType.dataUnavailable);
        }
      }
      const entry = { archive: target.archive, root: ARCHIVE_ROOT, ...(volume ? { volume } : {}) };
      const encrypt = input.encrypt || requireEncryption;
      const keys = encrypt ? keysFor(`backup ${input.backupId} of project ${project}`) : [];

      // An earlier attempt finished the file: it is complete (renamed only when whole); reuse it.
      if (await dest.exists(key)) {
        const { gzipError, keyId, ...measured } = await measure(dest, key, true, encrypt ? decryptArchive(keys, key) : undefined);
        if (gzipError === undefined) return { ...entry, ...measured, ...(keyId ? { encryption: { scheme: ARCHIVE_ENCRYPTION, keyId } } : {}), reused: true };
        await dest.remove(key); // damaged since (or not encrypted as asked): write it again
      }
      const tokenPrefix = partialSuffix(input.operation).slice('.partial-'.length);
      await dest.discardPending(key, tokenPrefix);

      const name = helperName(project, 'backup', input.operation, target.key);
      let helper = await inspectOrUndefined(docker, name);
      if (!helper) {
        const images = await firstImageOnHost(input.images);
        if (images.length === 0) {
          throw failure(
            `${what}: no image on this host to create a helper container from (tried ${input.images.join(', ') || 'none'}); set DOCKFLOW_HELPER_IMAGE to an image that is on the host`,
            ErrorType.dataUnavailable,
          );
        }
        // NoCopy: the image's files at the mount point must never be copied into the user's volume.
        const mount = (
          target.kind === 'volume'
            ? { Type: 'volume', Source: target.source, Target: MOUNT, ReadOnly: true, VolumeOptions: { NoCopy: true } }
            : { Type: 'bind', Source: target.source, Target: MOUNT, ReadOnly: true }
        ) as Docker.MountSettings;
        try {
          await docker.createContainer({
            name,
            Image: images[0],
            // Never started: the archive endpoint reads a created container's mounts.
            Entrypoint: ['/dockflow-helper-is-never-started'],
            Cmd: [],
            Labels: helperLabels(project, 'backup', input.operation),
            HostConfig: { Mounts: [mount], NetworkMode: 'none' },
          });
        } catch (err) {
          const msg = messageOf(err);
          if (/bind source path does not exist|not a directory/i.test(msg)) {
            if (target.optional) return { skipped: `${what}: the host directory does not exist; nothing archived` };
            throw failure(`${what}: the host directory does not exist`, ErrorType.dataUnavailable);
          }
          if (statusOf(err) !== 409) throw err; // 409: a parallel attempt created it just now
        }
        helper = await docker.getContainer(name).inspect();
      }
      const container = docker.getContainer(helper.Id);

      // dockerode hands back the HEAD response as an unread stream: only its headers matter, and it must not hold the socket.
      const stat = (await container.infoArchive({ path: MOUNT })) as { headers?: Record<string, string>; destroy?: () => void };
      stat.destroy?.();
      const header = stat.headers?.['x-docker-container-path-stat'];
      const mode = header ? (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { mode: number }).mode : GO_MODE_DIR;
      if (Math.floor(mode / GO_MODE_DIR) % 2 !== 1) {
        await removeContainerIfPresent(docker, helper.Id);
        if (target.optional) return { skipped: `${what} is a file, not a directory; nothing archived` };
        throw failure(`${what} is a file, not a directory: dockflow backs up directories (mount the file's directory instead)`, ErrorType.dataUnavailable);
      }

      const context = currentContext();
      // Cancellation (delivered by the heartbeat) aborts the stream; the partial file is then dropped.
      const signal = context?.cancellationSignal ?? new AbortController().signal;
      const tar = (await container.getArchive({ path: MOUNT, abortSignal: signal })) as unknown as Readable;
      const writer = await dest.openWrite(key, `${tokenPrefix}-a${context?.info.attempt ?? 1}`);
      let contentBytes = 0;
      const hash = hasher();
      const beat = throttledHeartbeat(`archive ${target.key}`);
      // The archive's place is part of its encryption: moved elsewhere, it no longer decrypts.
      const encryption = encrypt ? { scheme: ARCHIVE_ENCRYPTION, keyId: keys[0].id } : undefined;
      // Every gzip member is decompressed again and compared with its input on its way (verify).
      const gzip = parallelGzip({ verify: true });
      try {
        await pipeline(
          [
            tar,
            counter((n) => {
              contentBytes = n;
              beat(n);
            }),
            gzip,
            ...(encrypt ? [encryptArchive(keys[0], key)] : []),
            hash,
            writer.stream,
          ],
          { signal },
        );
      } catch (err) {
        await writer.abort();
        throw err;
      }
      await writer.commit();
      await removeContainerIfPresent(docker, helper.Id);
      const { sha256, bytes } = hash.digest();
      // A plain archive's bytes are the members: all of them gave their input back, so these bytes
      // decompress to exactly the tar (encrypted ones are decrypted and decompressed when verified).
      if (!encrypt && gzip.verifiedBytes() === contentBytes) roundTrips.remember(sha256, bytes, contentBytes);
      return { ...entry, archiveBytes: bytes, contentBytes, sha256, ...(encryption ? { encryption } : {}), reused: false };
    },

    /**
     * Read every archive back from the destination and compare it with what
     * was written: sha256 and size always; unless `checksumOnly`, also that
     * it decompresses to the recorded tar size (proven while writing for the
     * plain archives this worker just wrote, see RoundTripRegistry).
     */
    async verifyArchives(input: VerifyInput): Promise<void> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      for (const a of input.archives) {
        const key = `${input.project}/${input.backupId}/${a.archive}`;
        const where = `archive ${a.archive} (${a.key}) of backup ${input.backupId} of project ${input.project} in ${dest.description}`;
        // Checked before anything is read: without the archive's key a restore could not finish.
        const decrypt = decryptorFor(a, key);
        if (!(await dest.exists(key))) throw failure(`${where} is missing`, ErrorType.backupCorrupt);
        // Decompressing proves the archive gives its tar back. For an archive this worker wrote and
        // proved so while writing it (RoundTripRegistry), the sha256 and size read back prove it is
        // those same bytes, so decompressing it again would prove nothing more.
        const provenWhenWritten = !decrypt && roundTrips.proves(a);
        const decompress = !input.checksumOnly && !provenWhenWritten;
        const actual = await measure(dest, key, decompress, decrypt);
        if (actual.sha256 !== a.sha256 || actual.archiveBytes !== a.archiveBytes) {
          throw failure(
            `${where} does not match its record: sha256 ${actual.sha256} (${actual.archiveBytes} bytes), expected ${a.sha256} (${a.archiveBytes} bytes)`,
            ErrorType.backupCorrupt,
          );
        }
        if (decompress && (actual.gzipError !== undefined || actual.contentBytes !== a.contentBytes)) {
          throw failure(
            `${where} has the recorded checksum but does not decompress to the recorded ${a.contentBytes} bytes (${actual.gzipError ?? `${actual.contentBytes} bytes`})`,
            ErrorType.backupCorrupt,
          );
        }
      }
    },
  };
}
