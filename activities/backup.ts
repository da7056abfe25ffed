/**
 * Docker and file side effects of backups, restores and migrations. Each
 * activity is idempotent through deterministic names (src/backup/ids.ts):
 *
 * - an archive is written to `<file>.partial-<workflow>-a<attempt>` and
 *   renamed when complete; a retry deletes earlier attempts' partial files,
 *   and reuses the archive when an earlier attempt already renamed it;
 * - helper containers (created, never started for a backup; started only to
 *   clear a data set for a restore) have a name per workflow and data set,
 *   so a retry reuses or replaces its own and never another's;
 * - a migration's one-off container is started only if it never started, so
 *   a retried attempt re-attaches to it and waits for its exit.
 *
 * Data moves through the Docker API (GET/PUT /containers/{id}/archive) as a
 * stream: tar from Docker → gzip → sha256 → file, never whole in memory.
 */
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { once } from 'node:events';
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Label, MANAGED_BY } from '../src/model/labels';
import { isWedged, recreateWedged } from './wedge';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';
import { containerCreateOptions, endpointConfigFor, extraNetworks } from '../src/docker/container-config';
import { ARCHIVE_ROOT, BACKUP_ID_PATTERN, helperName, partialSuffix } from '../src/backup/ids';
import { ArchiveEntry, BackupManifest, sha256sums, summarizeManifest, type BackupSummary } from '../src/backup/manifest';
import { ManifestError, issuePath, manifestLabel, parseManifest, trustedRestoreEntries } from '../src/backup/manifest-check';
import { RESTORE_MOUNT, RESTORE_SCRIPT, restoreIdFor, stagingDirName, type RestoreStep } from '../src/backup/restore-swap';
import { TarDigest, type TarSummary } from '../src/backup/tar-digest';
import type { BackupTarget, DataContainer } from '../src/backup/plan';
import type { BackupHook } from '../src/backup/settings';
import { cursorOf, parseCursor, after, splitTimestamp, tailLines } from '../src/backup/output';
import { DestinationError, backupKeyParts, openDestination, type BackupDestination } from '../src/backup/destination';
import { parallelGzip } from '../src/backup/parallel-gzip';
import { decryptArchive, encryptArchive } from '../src/backup/archive-crypto';
import { ARCHIVE_ENCRYPTION } from '../src/backup/manifest';
import { keysFromEnv, type EncryptionKey } from '../src/temporal/codec';
import { defaultStateDir } from './ledger';
import { demuxLogs, messageOf, statusOf } from './docker';

export interface BackupActivityDeps {
  docker: Docker;
  /** Default: DOCKFLOW_STATE_DIR, else /var/lib/dockflow for root. */
  stateDir?: string;
  /** Default destination: DOCKFLOW_BACKUP_DIR, else <stateDir>/backups. */
  backupDir?: string;
  /** Last-resort image for helper containers: DOCKFLOW_HELPER_IMAGE. Must be on the host and have /bin/sh for restores. */
  helperImage?: string;
  /** How often waits poll Docker. Default 500 ms. */
  pollIntervalMs?: number;
  /** The worker's keys for archive encryption (the first encrypts, all decrypt). Default: DOCKFLOW_ENCRYPTION_KEY(_FILE), read when needed. */
  archiveKeys?: () => EncryptionKey[];
  /**
   * Every archive this worker writes is encrypted, and it restores only
   * encrypted ones: DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION=1. The manifest is not
   * authenticated, so without this someone able to write the destination
   * could swap an encrypted backup for a forged plain one.
   */
  requireEncryption?: boolean;
}

/** Label on helper containers (value: backup | restore), so they are found and removed whatever happened. */
export const HELPER_LABEL = 'io.dockflow.helper';
/** Label on one-off containers (value: run | dryrun). */
export const ONE_OFF_LABEL = 'io.dockflow.one-off';

const MOUNT = `/${ARCHIVE_ROOT}`;
const NOT_STARTED = '0001-01-01T00:00:00Z';
/** Go's os.ModeDir, as Docker reports a path's mode in X-Docker-Container-Path-Stat. */
const GO_MODE_DIR = 2 ** 31;
/** Hook output kept for messages and the manifest. */
const OUTPUT_LIMIT = 64 * 1024;
/** Output lines one waitOneOff call returns at most; the rest stays in `docker logs`. */
const LINES_PER_CALL = 200;

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

/** What reading an archive showed (src/backup/tar-digest.ts for `tree`). */
interface ArchiveSeen {
  sha256: string;
  archiveBytes: number;
  tree?: TarSummary;
  problem?: string;
}

export interface HookResult {
  container: string;
  exitCode?: number;
  timedOut: boolean;
  /** Set when the hook could not run at all. */
  error?: string;
  output: string;
}

export interface OneOffInput {
  spec: StackSpec; // a service slice
  service: string;
  imageId: string;
  name: string;
  command: string[];
  operation: string;
  /** A migration (`run`), its dry run, or a deploy hook: the container's io.dockflow.one-off label. */
  kind: 'run' | 'dryrun' | 'pre_deploy' | 'post_deploy';
  /** Variables set over the service's environment (a deploy hook's DOCKFLOW_*). */
  env?: Record<string, string>;
}

export interface WaitOneOffResult {
  exited: boolean;
  exitCode?: number;
  /** Output lines since the cursor. */
  lines: string[];
  /** Lines left out of `lines` because there were too many. */
  omitted: number;
  cursor?: string;
  /** Last lines of the whole output, once exited. */
  tail?: string;
}

export function defaultBackupDir(stateDir: string, env: Record<string, string | undefined> = process.env): string {
  return env.DOCKFLOW_BACKUP_DIR || path.join(stateDir, 'backups');
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called directly (tests): no heartbeats, no cancellation
  }
}

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

function failure(message: string, type: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

export function createBackupActivities({
  docker,
  stateDir = defaultStateDir(),
  backupDir = defaultBackupDir(stateDir),
  helperImage = process.env.DOCKFLOW_HELPER_IMAGE || undefined,
  pollIntervalMs = 500,
  archiveKeys = () => keysFromEnv(process.env),
  requireEncryption = process.env.DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION === '1',
}: BackupActivityDeps) {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /**
   * The worker's keys for an archive encrypted with `keyId` (undefined: any,
   * to encrypt). Without them the archive cannot be written or read: a
   * non-retryable failure naming what is missing, before anything is touched.
   */
  function keysFor(what: string, keyId?: string): EncryptionKey[] {
    const keys = archiveKeys();
    if (keys.length === 0) {
      throw failure(`${what} is encrypted, and this worker has no encryption key: set DOCKFLOW_ENCRYPTION_KEY or DOCKFLOW_ENCRYPTION_KEY_FILE on it`, ErrorType.dataUnavailable);
    }
    if (keyId !== undefined && !keys.some((k) => k.id === keyId)) {
      throw failure(`${what} is encrypted with key ${keyId}, which is not among this worker's keys (${keys.map((k) => k.id).join(', ')}): add that key to DOCKFLOW_ENCRYPTION_KEY_FILE`, ErrorType.dataUnavailable);
    }
    return keys;
  }

  /** A decryptor for an archive entry that is encrypted, or undefined. `key` is its place in the destination. */
  function decryptorFor(entry: { encryption?: ArchiveEntry['encryption']; archive: string }, key: string) {
    if (requireEncryption && !entry.encryption) {
      throw failure(`archive ${key} is not encrypted, and this worker accepts only encrypted backups (DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION=1)`, ErrorType.backupCorrupt);
    }
    return entry.encryption ? decryptArchive(keysFor(`archive ${key}`, entry.encryption.keyId), key) : undefined;
  }

  /**
   * The destination, for keys built from this project and these backup IDs.
   * Workflows validate both first; checked again here, where they become
   * paths, because activities can be called with inputs no workflow
   * validated. A bad name is non-retryable: no retry can fix it.
   */
  function destinationOf(destination: string | undefined, project: string, backupIds: string[] = []): BackupDestination {
    try {
      for (const prefix of backupIds.length ? backupIds.map((id) => `${project}/${id}`) : [project]) backupKeyParts(prefix);
    } catch (err) {
      if (err instanceof DestinationError) throw failure(err.message, ErrorType.invalidSpec);
      throw err;
    }
    try {
      return openDestination(destination, backupDir);
    } catch (err) {
      if (err instanceof DestinationError) throw failure(err.message, ErrorType.dataUnavailable);
      throw err;
    }
  }

  function throttledHeartbeat(step: string): (bytes: number) => void {
    const context = currentContext();
    let last = 0;
    return (bytes) => {
      const now = Date.now();
      if (!context || now - last < 1000) return;
      last = now;
      context.heartbeat({ step, bytes });
    };
  }

  function throwIfCancelled(): void {
    currentContext()?.cancellationSignal.throwIfAborted();
  }

  async function inspectOrUndefined(nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await docker.getContainer(nameOrId).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function removeContainerIfPresent(nameOrId: string): Promise<void> {
    try {
      await docker.getContainer(nameOrId).remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404 && !/already in progress/i.test(messageOf(err))) throw err;
    }
  }

  async function firstImageOnHost(candidates: string[]): Promise<string[]> {
    const present: string[] = [];
    for (const image of [...candidates, ...(helperImage ? [helperImage] : [])]) {
      try {
        await docker.getImage(image).inspect();
        if (!present.includes(image)) present.push(image);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    return present;
  }

  function helperLabels(project: string, kind: 'backup' | 'restore', operation: string): Record<string, string> {
    // One-off labels keep helpers out of deploy plans and `docker compose ps`, while `down` still removes them.
    return { [Label.project]: project, [Label.oneoff]: 'True', [Label.managedBy]: MANAGED_BY, [Label.operation]: operation, [HELPER_LABEL]: kind };
  }

  function describeTarget(project: string, target: { kind: 'volume' | 'bind'; key: string; source: string }): string {
    return target.kind === 'volume' ? `volume ${target.key} (${target.source}) of project ${project}` : `bind mount ${target.key} (${target.source}) of project ${project}`;
  }

  /**
   * Read an archive back in one pass: sha256 and size of the file, and (with
   * `decompress`) the size of the tar inside, which proves the gzip stream is
   * whole. A broken gzip stream does not stop the hash, so a corrupted file is
   * reported as a checksum mismatch, the finding that names what differs.
   */
  async function measure(
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

  /** An entry from the workflow, checked again where it is used: a restore writes only where a valid entry points. */
  function checkedEntry(raw: ArchiveEntry, where: string): ArchiveEntry {
    const parsed = ArchiveEntry.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw failure(`${where}: ${issuePath(issue.path)}: ${issue.message}`, ErrorType.invalidSpec);
    }
    if (parsed.data.kind === 'bind' && parsed.data.source.includes(':')) throw failure(`${where}: source: ${JSON.stringify(parsed.data.source)} contains ":"`, ErrorType.invalidSpec);
    return parsed.data;
  }

  /** A volume gone since the backup (e.g. `down -v`) is created again from the spec's definition, labels included. */
  async function ensureRestoreVolume(entry: ArchiveEntry, what: string): Promise<void> {
    if (entry.kind !== 'volume') return;
    try {
      await docker.getVolume(entry.source).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!entry.volume) {
      throw failure(`${what} does not exist, and it is external (not the project's to create): create it, then restore again`, ErrorType.dataUnavailable);
    }
    // As a deploy creates it (src/docker/container-config.ts volumeCreateOptions): no DriverOpts when the spec gives none.
    const options = entry.volume.options;
    await docker.createVolume({ Name: entry.source, Driver: entry.volume.driver, ...(Object.keys(options).length > 0 ? { DriverOpts: options } : {}), Labels: entry.volume.labels });
  }

  /**
   * Runs the steps of src/backup/restore-swap.ts in a helper container
   * mounting the data set, one container per step under the helper's
   * deterministic name; the last one stays (exited) for the archive API
   * until remove().
   */
  function restoreHelper(project: string, operation: string, entry: ArchiveEntry, what: string, candidates: string[]) {
    const name = helperName(project, 'restore', operation, entry.key);
    const restoreId = restoreIdFor(operation);
    let image: string | undefined;
    return {
      restoreId,
      async run(step: RestoreStep): Promise<{ container: Docker.Container; output: string }> {
        await removeContainerIfPresent(name);
        const problems: string[] = [];
        const images = image ? [image] : await firstImageOnHost(candidates);
        for (const candidate of images) {
          const created = await docker.createContainer({
            name,
            Image: candidate,
            User: '0:0',
            // argv, not a command line: the script is fixed text, the step and the ID are its only inputs.
            Entrypoint: ['/bin/sh', '-c', RESTORE_SCRIPT, 'dockflow-restore'],
            Cmd: [step],
            Env: [`DOCKFLOW_RESTORE_ID=${restoreId}`, `DOCKFLOW_RESTORE_ROOT=${RESTORE_MOUNT}`],
            WorkingDir: '/',
            Labels: helperLabels(project, 'restore', operation),
            HostConfig: { Binds: [`${entry.source}:${RESTORE_MOUNT}${entry.kind === 'volume' ? ':nocopy' : ''}`], NetworkMode: 'none' },
          });
          try {
            await created.start();
          } catch (err) {
            if (statusOf(err) === undefined) throw err; // the engine itself is gone (a restart): retried once it answers
            // This image has no /bin/sh: try the next one.
            problems.push(`${candidate}: ${messageOf(err)}`);
            await removeContainerIfPresent(created.id);
            continue;
          }
          const { StatusCode } = (await created.wait()) as { StatusCode: number };
          const logs = demuxLogs((await created.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
          if (StatusCode !== 0) {
            await removeContainerIfPresent(created.id);
            // Retryable: a daemon restart kills the step (137); the next attempt picks up from the directories.
            throw new Error(`${what}: restore step ${step} failed (exit ${StatusCode}): ${tailLines(logs, 5)}`);
          }
          image = candidate;
          return { container: created, output: logs.trim().split('\n').at(-1) ?? '' };
        }
        throw failure(
          `${what}: no image on this host with /bin/sh to restore the data set with (${problems.join('; ') || `tried ${candidates.join(', ') || 'none'}`}); set DOCKFLOW_HELPER_IMAGE to one, e.g. a busybox image`,
          ErrorType.dataUnavailable,
        );
      },
      remove: () => removeContainerIfPresent(name),
    };
  }

  /**
   * A pass-through that checks an archive on its way: sha256 and size of
   * the file, and its decompressed tar (byte count and tree digest).
   */
  function archiveChecker(step: string, decrypt?: Transform): { stream: Transform; seen: () => Promise<ArchiveSeen> } {
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
  function archiveProblem(seen: ArchiveSeen, entry: ArchiveEntry): string | undefined {
    if (seen.sha256 !== entry.sha256 || seen.archiveBytes !== entry.archiveBytes) {
      return `sha256 ${seen.sha256} (${seen.archiveBytes} bytes), expected ${entry.sha256} (${entry.archiveBytes} bytes)`;
    }
    if (seen.problem !== undefined || !seen.tree) return seen.problem ?? 'it could not be read';
    if (seen.tree.bytes !== entry.contentBytes) return `it decompresses to ${seen.tree.bytes} bytes of tar, not the ${entry.contentBytes} recorded`;
    return undefined;
  }

  /**
   * Stream an archive from the destination into a directory of the helper's
   * mount, checking it on the way (archiveChecker). When Docker failed or
   * stopped reading early, the file is checked again on its own, to tell a
   * damaged archive (non-retryable BackupCorrupt) from a Docker problem
   * (retryable). Returns the archive's tree digest.
   */
  async function streamArchiveInto(
    container: Docker.Container,
    dest: BackupDestination,
    key: string,
    entry: ArchiveEntry,
    into: string,
    what: string,
    backupId: string,
  ): Promise<TarSummary> {
    const context = currentContext();
    const abort = new AbortController();
    const cancelled = () => abort.abort(new Error('cancelled'));
    context?.cancellationSignal.addEventListener('abort', cancelled);
    const source = await dest.openRead(key);
    const checker = archiveChecker(`restore ${entry.key}`, decryptorFor(entry, key));
    source.on('error', (err) => {
      checker.stream.destroy(err);
      abort.abort(err);
    });
    // Its errors are judged below, by checking the file again; unhandled, one would end the worker.
    checker.stream.on('error', () => undefined);
    // Docker gets the gzip stream: an encrypted archive is decrypted on the way, each frame's
    // plaintext only once its tag was checked (what came before a bad frame lands in the staging
    // directory, which is then discarded).
    const decrypt = decryptorFor(entry, key);
    decrypt?.on('error', (err) => abort.abort(err));
    let dockerError: unknown;
    try {
      await container.putArchive(decrypt ? source.pipe(checker.stream).pipe(decrypt) : source.pipe(checker.stream), { path: into, abortSignal: abort.signal });
    } catch (err) {
      dockerError = err;
    } finally {
      context?.cancellationSignal.removeEventListener('abort', cancelled);
    }
    throwIfCancelled();
    // Docker may answer before it read the whole stream (on an error, or once the tar's end blocks came).
    const whole = dockerError === undefined && (checker.stream.writableFinished || (await finishesWithin(checker.stream, 2000)));
    let seen: ArchiveSeen;
    if (whole) seen = await checker.seen();
    else {
      source.destroy();
      const again = archiveChecker(`check ${entry.archive}`, decryptorFor(entry, key));
      await pipeline(await dest.openRead(key), again.stream, new Writable({ write: (_chunk, _enc, done) => done() }));
      seen = await again.seen();
    }
    const problem = archiveProblem(seen, entry);
    if (problem !== undefined) {
      throw failure(`archive ${entry.archive} of backup ${backupId} (${what}) is damaged: ${problem}; nothing was restored, the data set is as it was`, ErrorType.backupCorrupt);
    }
    if (dockerError !== undefined) {
      // Keeps the socket error's code, so a daemon restart is recognised as such (activities/index.ts).
      const code = (dockerError as { code?: unknown }).code;
      throw Object.assign(new Error(`${what}: writing archive ${entry.archive} through the Docker API failed: ${messageOf(dockerError)}`), code !== undefined ? { code } : {});
    }
    return seen.tree!;
  }

  async function finishesWithin(stream: Transform, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      once(stream, 'finish').then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
    clearTimeout(timer);
    return finished;
  }

  /** The digest of a directory's tree, as the Docker API archives it. */
  async function readTree(container: Docker.Container, at: string, step: string): Promise<TarSummary> {
    const signal = currentContext()?.cancellationSignal ?? new AbortController().signal;
    const stream = (await container.getArchive({ path: at, abortSignal: signal })) as unknown as Readable;
    const tree = new TarDigest();
    const beat = throttledHeartbeat(step);
    let bytes = 0;
    for await (const chunk of stream) {
      tree.write(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      beat(bytes);
    }
    return tree.end();
  }

  return destinationFailuresAreFinal({
    /** The project's containers with their mounts, for choosing what to stop and which image a helper uses. */
    async observeDataContainers(project: string): Promise<DataContainer[]> {
      const list = await docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`] } });
      const out: DataContainer[] = [];
      for (const c of list) {
        if (c.Labels?.[HELPER_LABEL]) continue;
        let info: Docker.ContainerInspectInfo;
        try {
          info = await docker.getContainer(c.Id).inspect();
        } catch (err) {
          if (statusOf(err) === 404) continue; // removed meanwhile
          throw err;
        }
        const labels = info.Config.Labels ?? {};
        const test = info.Config.Healthcheck?.Test;
        out.push({
          id: info.Id,
          name: info.Name.replace(/^\//, ''),
          service: labels[Label.service] ?? '',
          number: Number.parseInt(labels[Label.containerNumber] ?? '0', 10) || 0,
          oneoff: (labels[Label.oneoff] ?? 'False').toLowerCase() === 'true',
          running: info.State.Running,
          imageId: info.Image,
          hasHealthcheck: Array.isArray(test) && test.length > 0 && test[0] !== 'NONE',
          dependsOn: (labels[Label.dependsOn] ?? '')
            .split(',')
            .map((d) => d.split(':')[0])
            .filter(Boolean),
          mounts: (info.Mounts ?? []).map((m) => ({
            type: m.Type,
            ...(m.Name ? { name: m.Name } : {}),
            source: m.Source,
            destination: m.Destination,
            rw: m.RW,
          })),
        });
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },

    /** Stop containers in the order given; already stopped or gone is fine. */
    async stopContainers(input: { project: string; containers: { id: string; name: string }[] }): Promise<string[]> {
      const stopped: string[] = [];
      for (const c of input.containers) {
        try {
          await docker.getContainer(c.id).stop();
          stopped.push(c.name);
        } catch (err) {
          if (statusOf(err) === 304 || statusOf(err) === 404) continue;
          throw err;
        }
      }
      return stopped;
    },

    /** Start containers in the order given; already running is fine, one removed meanwhile is reported. */
    async startContainers(input: { project: string; containers: { id: string; name: string }[] }): Promise<{ started: string[]; missing: string[] }> {
      const started: string[] = [];
      const missing: string[] = [];
      for (const c of input.containers) {
        try {
          await docker.getContainer(c.id).start();
          started.push(c.name);
        } catch (err) {
          if (statusOf(err) === 304) started.push(c.name);
          else if (statusOf(err) === 404) missing.push(c.name);
          else if (isWedged(err)) {
            // Wedged by a daemon restart: an identical container under the same name takes its place.
            await recreateWedged(docker, c.id);
            started.push(c.name);
          } else throw err;
        }
      }
      return { started, missing };
    },

    /**
     * Exec a hook in a running container and wait for it, at most its
     * timeout. The result says what happened; the workflow applies on_error.
     * Docker cannot kill an exec, so a timed-out hook may still be running.
     */
    async runHook(input: { project: string; container: string; hook: BackupHook }): Promise<HookResult> {
      const { hook, container } = input;
      const info = await inspectOrUndefined(container);
      if (!info || !info.State.Running) {
        return { container, timedOut: false, output: '', error: `container ${container} of service ${hook.service} is not running` };
      }
      let exec: Docker.Exec;
      try {
        exec = await docker.getContainer(info.Id).exec({
          Cmd: hook.command,
          AttachStdout: true,
          AttachStderr: true,
          ...(hook.user ? { User: hook.user } : {}),
          ...(hook.workingDir ? { WorkingDir: hook.workingDir } : {}),
        });
      } catch (err) {
        return { container, timedOut: false, output: '', error: `cannot exec in ${container}: ${messageOf(err)}` };
      }
      const stream = await exec.start({ hijack: true, stdin: false });
      let output = '';
      const collect = new PassThrough();
      collect.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
      });
      docker.modem.demuxStream(stream, collect, collect);
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      const deadline = Date.now() + hook.timeoutMs;
      for (;;) {
        const state = await exec.inspect();
        if (!state.Running) {
          await Promise.race([ended, sleep(1000)]);
          // The hijacked connection can stay half-open after the process ended; it must not outlive the hook.
          stream.destroy();
          return { container, exitCode: state.ExitCode ?? undefined, timedOut: false, output };
        }
        if (Date.now() > deadline) {
          stream.destroy();
          return { container, timedOut: true, output };
        }
        await Promise.race([ended, sleep(pollIntervalMs)]);
        throwIfCancelled();
      }
    },

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
      let helper = await inspectOrUndefined(name);
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
        await removeContainerIfPresent(helper.Id);
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
      try {
        await pipeline(
          [
            tar,
            counter((n) => {
              contentBytes = n;
              beat(n);
            }),
            parallelGzip(),
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
      await removeContainerIfPresent(helper.Id);
      const { sha256, bytes } = hash.digest();
      return { ...entry, archiveBytes: bytes, contentBytes, sha256, ...(encryption ? { encryption } : {}), reused: false };
    },

    /** Read every archive back from the destination and compare it with what was written. */
    async verifyArchives(input: VerifyInput): Promise<void> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      for (const a of input.archives) {
        const key = `${input.project}/${input.backupId}/${a.archive}`;
        const where = `archive ${a.archive} (${a.key}) of backup ${input.backupId} of project ${input.project} in ${dest.description}`;
        // Checked before anything is read: without the archive's key a restore could not finish.
        const decrypt = decryptorFor(a, key);
        if (!(await dest.exists(key))) throw failure(`${where} is missing`, ErrorType.backupCorrupt);
        const actual = await measure(dest, key, !input.checksumOnly, decrypt);
        if (actual.sha256 !== a.sha256 || actual.archiveBytes !== a.archiveBytes) {
          throw failure(
            `${where} does not match its record: sha256 ${actual.sha256} (${actual.archiveBytes} bytes), expected ${a.sha256} (${a.archiveBytes} bytes)`,
            ErrorType.backupCorrupt,
          );
        }
        if (!input.checksumOnly && (actual.gzipError !== undefined || actual.contentBytes !== a.contentBytes)) {
          throw failure(
            `${where} has the recorded checksum but does not decompress to the recorded ${a.contentBytes} bytes (${actual.gzipError ?? `${actual.contentBytes} bytes`})`,
            ErrorType.backupCorrupt,
          );
        }
      }
    },

    /** Write SHA256SUMS, then the manifest: its presence is what makes the backup complete. */
    async commitManifest(input: { destination?: string; manifest: BackupManifest }): Promise<string> {
      const manifest = BackupManifest.parse(input.manifest);
      const dest = destinationOf(input.destination, manifest.project, [manifest.id]);
      const key = `${manifest.project}/${manifest.id}/manifest.json`;
      const existing = await dest.readText(key);
      if (existing !== undefined) {
        if ((JSON.parse(existing) as { workflowId?: string }).workflowId === manifest.workflowId) return dest.description;
        throw failure(`backup ${manifest.id} of project ${manifest.project} already exists in ${dest.description}, written by another workflow`, ErrorType.dataUnavailable);
      }
      const token = partialSuffix(manifest.workflowId).slice('.partial-'.length);
      await dest.writeText(`${manifest.project}/${manifest.id}/SHA256SUMS`, sha256sums(manifest), token);
      await dest.writeText(key, `${JSON.stringify(manifest, null, 2)}\n`, token);
      return dest.description;
    },

    /** Remove what a backup that did not complete left behind; a complete backup (with manifest) is never touched. */
    async discardIncompleteBackup(input: { project: string; backupId: string; destination?: string }): Promise<boolean> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      if (await dest.exists(`${input.project}/${input.backupId}/manifest.json`)) return false;
      await dest.remove(`${input.project}/${input.backupId}`);
      return true;
    },

    /**
     * Complete backups of a project, oldest first; directories without a
     * manifest, or whose name is not a backup ID, are reported as
     * incomplete. A backup is known by its folder's own name, which must be
     * the ID its manifest carries: a manifest that disagrees (or fails the
     * schema) is left out and reported in `rejected`, so retention never
     * acts on it.
     */
    async listBackups(input: { project: string; destination?: string }): Promise<{ destination: string; backups: BackupSummary[]; incomplete: string[]; rejected?: string[] }> {
      const dest = destinationOf(input.destination, input.project);
      const backups: BackupSummary[] = [];
      const incomplete: string[] = [];
      const rejected: string[] = [];
      for (const folder of await dest.list(input.project)) {
        const label = manifestLabel(input.project, folder, dest.description);
        // Not a backup ID: nothing dockflow wrote, and no key may be built from it.
        if (!BACKUP_ID_PATTERN.test(folder)) {
          incomplete.push(folder);
          continue;
        }
        const text = await dest.readText(`${input.project}/${folder}/manifest.json`);
        if (text === undefined) {
          incomplete.push(folder);
          continue;
        }
        try {
          backups.push(summarizeManifest(parseManifest(text, { project: input.project, folder, label })));
        } catch (err) {
          if (!(err instanceof ManifestError)) throw err;
          rejected.push(err.message);
        }
      }
      backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
      return { destination: dest.description, backups, incomplete, ...(rejected.length > 0 ? { rejected } : {}) };
    },

    /**
     * Read and check a backup's manifest (schema, and that it is filed where
     * it says); with the project's spec, also every data set against it
     * (src/backup/manifest-check.ts). A bad manifest is a non-retryable
     * BackupCorrupt naming the file and the key.
     */
    async readBackup(input: { project: string; backupId: string; destination?: string; spec?: StackSpec }): Promise<BackupManifest> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      const text = await dest.readText(`${input.project}/${input.backupId}/manifest.json`);
      if (text === undefined) {
        const available = (await dest.list(input.project)).slice(-5);
        throw failure(
          `project ${input.project} has no complete backup ${input.backupId} in ${dest.description}` +
            (available.length ? ` (latest: ${available.join(', ')}; see dockflow backups -p ${input.project})` : ' (it has no backups there)'),
          ErrorType.backupNotFound,
        );
      }
      const label = manifestLabel(input.project, input.backupId, dest.description);
      try {
        const manifest = parseManifest(text, { project: input.project, folder: input.backupId, label });
        if (input.spec) trustedRestoreEntries(manifest, input.spec, label);
        return manifest;
      } catch (err) {
        if (err instanceof ManifestError) throw failure(err.message, ErrorType.backupCorrupt);
        throw err;
      }
    },

    /** Delete backups by folder name (a backup ID, checked); the manifest goes first, so a half-deleted backup never counts as complete. */
    async deleteBackups(input: { project: string; backupIds: string[]; destination?: string }): Promise<string[]> {
      const dest = destinationOf(input.destination, input.project, input.backupIds);
      const bad = input.backupIds.filter((id) => !BACKUP_ID_PATTERN.test(id));
      if (bad.length > 0) throw failure(`refusing to delete backups of project ${input.project}: ${bad.map((id) => JSON.stringify(id)).join(', ')} is not a backup ID`, ErrorType.invalidSpec);
      for (const id of input.backupIds) {
        await dest.remove(`${input.project}/${id}/manifest.json`);
        await dest.remove(`${input.project}/${id}`);
      }
      return input.backupIds;
    },

    /**
     * Replace a data set's contents with an archive's, never destroying the
     * only copy (src/backup/restore-swap.ts): the archive is extracted into a
     * staging directory inside the data set while the old contents stay in
     * place, read back and compared with the archive, and only then swapped
     * in by renames. Each step runs in a helper container mounting the data
     * set (a fixed script, the restore ID as its only variable). A retried
     * attempt finds the directories an earlier one left and finishes from
     * there. The entry's paths come from the project's spec (the workflow
     * checked the manifest against it) and are checked again here.
     */
    async restoreTarget(input: { project: string; backupId: string; operation: string; destination?: string; entry: ArchiveEntry; images: string[] }): Promise<void> {
      const { project } = input;
      const entry = checkedEntry(input.entry, `data set ${input.entry?.key} of backup ${input.backupId} of project ${project}`);
      const what = describeTarget(project, entry);
      const dest = destinationOf(input.destination, project, [input.backupId]);
      const key = `${project}/${input.backupId}/${entry.archive}`;
      if (!(await dest.exists(key))) throw failure(`archive ${entry.archive} of backup ${input.backupId} (${what}) is missing from ${dest.description}`, ErrorType.backupNotFound);
      // Its key (or the refusal of a plain archive) is settled before anything is touched.
      decryptorFor(entry, key);
      await ensureRestoreVolume(entry, what);
      const helper = restoreHelper(project, input.operation, entry, what, input.images);
      try {
        const begun = await helper.run('begin');
        if (begun.output === 'committed') {
          // An earlier attempt verified the staged copy and committed: only the swap is left.
          await helper.run('finish');
          return;
        }
        const staging = `${RESTORE_MOUNT}/${stagingDirName(helper.restoreId)}`;
        let written: TarSummary;
        try {
          written = await streamArchiveInto(begun.container, dest, key, entry, staging, what, input.backupId);
        } catch (err) {
          if (err instanceof ApplicationFailure && !err.nonRetryable) throw err;
          if (err instanceof ApplicationFailure) {
            // The archive itself is bad: drop the staging copy; the old contents were never touched.
            await helper.run('finish').catch(() => undefined);
          }
          throw err;
        }
        // Read the staged tree back before committing to it: a daemon that is shutting down can answer
        // the write with success and keep nothing (found by the chaos harness).
        const readBack = await readTree(begun.container, `${staging}/${ARCHIVE_ROOT}`, `read back ${entry.key}`);
        if (readBack.digest !== written.digest || readBack.entries !== written.entries) {
          await helper.run('finish').catch(() => undefined);
          throw new Error(
            `${what}: the extracted copy of archive ${entry.archive} reads back as ${readBack.entries} entries (digest ${readBack.digest.slice(0, 12)}), ` +
              `not the archive's ${written.entries} (digest ${written.digest.slice(0, 12)}); the data set was left as it was, restoring it again`,
          );
        }
        await helper.run('commit');
      } finally {
        // Never hides the step's own error; the workflow removes every helper of the operation at the end anyway.
        await helper.remove().catch(() => undefined);
      }
    },

    /**
     * After a restore stopped (failed, cancelled, out of attempts), bring a
     * data set to a whole state: a verified, committed copy is swapped in;
     * an uncommitted staging copy is discarded, leaving the old contents.
     * Returns what it did: finished, discarded or clean.
     */
    async settleRestore(input: { project: string; operation: string; entry: ArchiveEntry; images: string[] }): Promise<string> {
      const entry = checkedEntry(input.entry, `data set ${input.entry?.key} of project ${input.project}`);
      const what = describeTarget(input.project, entry);
      if (entry.kind === 'volume') {
        try {
          await docker.getVolume(entry.source).inspect();
        } catch (err) {
          if (statusOf(err) === 404) return 'clean'; // nothing was ever staged in a volume that does not exist
          throw err;
        }
      }
      const helper = restoreHelper(input.project, input.operation, entry, what, input.images);
      try {
        return (await helper.run('finish')).output;
      } finally {
        await helper.remove();
      }
    },

    /** Remove every helper container of an operation, whatever state an interrupted attempt left it in. */
    async removeHelpers(input: { project: string; operation: string }): Promise<number> {
      const list = await docker.listContainers({ all: true, filters: { label: [`${Label.operation}=${input.operation}`, HELPER_LABEL] } });
      for (const c of list) await removeContainerIfPresent(c.Id);
      return list.length;
    },

    /**
     * Create (if missing) and start (only if it never started) a one-off
     * container of a service: the service's image, environment, networks and
     * volumes, the given command. Exactly once: a container that already
     * started (running or exited) is never started again.
     */
    async startOneOff(input: OneOffInput): Promise<{ id: string; name: string; startedNow: boolean }> {
      const { spec, name } = input;
      const service = spec.services[input.service];
      let info = await inspectOrUndefined(name);
      if (!info) {
        const body = containerCreateOptions(
          spec,
          service,
          { project: spec.project, service: input.service, number: 0, configHash: '', imageId: input.imageId, operation: input.operation },
          name,
          false, // no service aliases: the one-off must not receive the service's traffic
        );
        const labels: Record<string, string> = { ...body.Labels, [Label.oneoff]: 'True', [ONE_OFF_LABEL]: input.kind };
        for (const k of [Label.containerNumber, Label.composeConfigHash, Label.configHash]) delete labels[k];
        body.Labels = labels;
        body.Cmd = input.command;
        if (input.env) {
          // Replaced, not appended: with a name twice in Env, which one a program reads depends on its libc.
          const extra = input.env;
          body.Env = [...(body.Env ?? []).filter((e) => !Object.hasOwn(extra, e.slice(0, e.indexOf('=')))), ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
        }
        body.Healthcheck = { Test: ['NONE'] };
        body.HostConfig = { ...body.HostConfig, PortBindings: {}, RestartPolicy: { Name: '' } };
        try {
          await docker.createContainer(body);
        } catch (err) {
          if (statusOf(err) !== 409) {
            const type = statusOf(err) === 400 || statusOf(err) === 404 ? ErrorType.dockerRejected : undefined;
            if (type) throw failure(`service ${input.service} of project ${spec.project}: Docker refused to create ${name}: ${messageOf(err)}`, type);
            throw err;
          }
        }
        info = await docker.getContainer(name).inspect();
      }
      const attached = new Set(Object.keys(info.NetworkSettings.Networks ?? {}));
      for (const a of extraNetworks(spec, service, false)) {
        if (attached.has(a.network)) continue;
        await docker
          .getNetwork(a.network)
          .connect({ Container: info.Id, EndpointConfig: endpointConfigFor(a) })
          .catch((err: unknown) => {
            if (!/already exists|already attached/i.test(messageOf(err))) throw err;
          });
      }
      const neverStarted = !info.State.Running && (info.State.StartedAt === NOT_STARTED || info.State.StartedAt === '');
      if (neverStarted) {
        try {
          await docker.getContainer(info.Id).start();
        } catch (err) {
          if (statusOf(err) !== 304) {
            throw failure(`service ${input.service} of project ${spec.project}: cannot start ${name}: ${messageOf(err)}`, ErrorType.dockerRejected);
          }
        }
      }
      return { id: info.Id, name, startedNow: neverStarted };
    },

    /**
     * Wait up to maxWaitMs for a one-off container to exit, returning the
     * output lines since `cursor`, so the workflow can show them as they come.
     */
    async waitOneOff(input: { service: string; name: string; cursor?: string; maxWaitMs: number }): Promise<WaitOneOffResult> {
      const deadline = Date.now() + input.maxWaitMs;
      let info: Docker.ContainerInspectInfo | undefined;
      for (;;) {
        info = await inspectOrUndefined(input.name);
        if (!info) throw failure(`service ${input.service}: one-off container ${input.name} is gone`, ErrorType.jobFailed);
        const exited = !info.State.Running && !info.State.Restarting && info.State.StartedAt !== NOT_STARTED;
        if (exited || Date.now() >= deadline) break;
        await sleep(pollIntervalMs);
        throwIfCancelled();
      }
      const exited = !info.State.Running && !info.State.Restarting;
      const since = input.cursor ? parseCursor(input.cursor) : undefined;
      const raw = (await docker.getContainer(info.Id).logs({
        stdout: true,
        stderr: true,
        timestamps: true,
        follow: false,
        ...(input.cursor ? { since: input.cursor as unknown as number } : {}),
      })) as unknown as Buffer;
      const lines: string[] = [];
      let cursor = input.cursor;
      let omitted = 0;
      for (const line of demuxLogs(raw).split('\n')) {
        const parsed = splitTimestamp(line);
        if (!parsed) continue;
        if (since && !after(parsed.at, since)) continue; // Docker's `since` includes the line at the cursor
        cursor = cursorOf(parsed.at);
        if (lines.length < LINES_PER_CALL) lines.push(parsed.text);
        else omitted += 1;
      }
      let tail: string | undefined;
      if (exited) {
        tail = demuxLogs((await docker.getContainer(info.Id).logs({ stdout: true, stderr: true, tail: 30, follow: false })) as unknown as Buffer).trimEnd();
      }
      return { exited, ...(exited ? { exitCode: info.State.ExitCode } : {}), lines, omitted, ...(cursor ? { cursor } : {}), ...(tail !== undefined ? { tail } : {}) };
    },

    /** Stop a one-off container (timeout or cancellation); it is kept for `docker logs`. */
    async stopOneOff(input: { name: string }): Promise<void> {
      try {
        await docker.getContainer(input.name).stop({ t: 10 });
      } catch (err) {
        if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
      }
    },
  });
}

/**
 * A destination that refuses us (a bad key, a bucket that does not exist,
 * credentials S3 rejects) will refuse every retry too: such an error fails
 * the activity for good, naming the destination.
 */
function destinationFailuresAreFinal<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        if (err instanceof DestinationError) throw failure(err.message, ErrorType.dataUnavailable);
        throw err;
      }
    };
  }
  return wrapped as T;
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
