/**
 * What every backup activity module shares: the worker's settings (the
 * default destination, helper image, encryption keys), the checks that turn
 * an activity's input into a destination or a data set, heartbeats and
 * cancellation, and the helper containers' labels and images.
 *
 * Built once per worker by createBackupContext; each module of
 * activities/backup/ takes it and returns its activities.
 */
import type Docker from 'dockerode';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Label, MANAGED_BY } from '../../src/model/labels';
import { ErrorType } from '../../src/errors';
import { ArchiveEntry } from '../../src/backup/manifest';
import { issuePath } from '../../src/backup/manifest-check';
import { DestinationError, backupKeyParts, type BackupDestination } from '../../src/backup/destination';
import { openDestination } from '../../src/backup/open-destination';
import { decryptArchive } from '../../src/backup/archive-crypto';
import { keysFromEnv, type EncryptionKey } from '../../src/temporal/codec';
import { defaultStateDir } from '../ledger';
import { statusOf } from './docker-common';

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
  /** Archives proven to decompress while written (default: a new, empty registry per worker). */
  roundTrips?: RoundTripRegistry;
}

/** Label on helper containers (value: backup | restore), so they are found and removed whatever happened. */
export const HELPER_LABEL = 'io.dockflow.helper';

export function defaultBackupDir(stateDir: string, env: Record<string, string | undefined> = process.env): string {
  return env.DOCKFLOW_BACKUP_DIR || path.join(stateDir, 'backups');
}

export function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called directly (tests): no heartbeats, no cancellation
  }
}

export function failure(message: string, type: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function throttledHeartbeat(step: string): (bytes: number) => void {
  const context = currentContext();
  let last = 0;
  return (bytes) => {
    const now = Date.now();
    if (!context || now - last < 1000) return;
    last = now;
    context.heartbeat({ step, bytes });
  };
}

export function throwIfCancelled(): void {
  currentContext()?.cancellationSignal.throwIfAborted();
}

export function helperLabels(project: string, kind: 'backup' | 'restore', operation: string): Record<string, string> {
  // One-off labels keep helpers out of deploy plans and `docker compose ps`, while `down` still removes them.
  return { [Label.project]: project, [Label.oneoff]: 'True', [Label.managedBy]: MANAGED_BY, [Label.operation]: operation, [HELPER_LABEL]: kind };
}

export function describeTarget(project: string, target: { kind: 'volume' | 'bind'; key: string; source: string }): string {
  return target.kind === 'volume' ? `volume ${target.key} (${target.source}) of project ${project}` : `bind mount ${target.key} (${target.source}) of project ${project}`;
}

/** An entry from the workflow, checked again where it is used: a restore writes only where a valid entry points. */
export function checkedEntry(raw: ArchiveEntry, where: string): ArchiveEntry {
  const parsed = ArchiveEntry.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw failure(`${where}: ${issuePath(issue.path)}: ${issue.message}`, ErrorType.invalidSpec);
  }
  if (parsed.data.kind === 'bind' && parsed.data.source.includes(':')) throw failure(`${where}: source: ${JSON.stringify(parsed.data.source)} contains ":"`, ErrorType.invalidSpec);
  return parsed.data;
}

export type BackupContext = ReturnType<typeof createBackupContext>;

/** Archives a registry remembers at most (the newest); older ones are verified by decompressing them again. */
const ROUND_TRIPS_KEPT = 256;

/**
 * Archive contents this worker proved to decompress to their tar while
 * writing them (src/backup/parallel-gzip.ts `verify`: every gzip member
 * decompressed and compared with its input). Keyed by the archive's sha256
 * and size: the property belongs to those bytes, wherever they are stored,
 * so a read-back that finds the same sha256 and size proves the stored
 * archive decompresses to the same tar without decompressing it again.
 * In memory only: another worker, or this one after a restart, does not
 * find it and decompresses the archive as before.
 */
export class RoundTripRegistry {
  private readonly proven = new Map<string, number>();

  remember(sha256: string, archiveBytes: number, contentBytes: number): void {
    const key = `${sha256}:${archiveBytes}`;
    this.proven.delete(key);
    this.proven.set(key, contentBytes);
    while (this.proven.size > ROUND_TRIPS_KEPT) this.proven.delete(this.proven.keys().next().value!);
  }

  /** Whether an archive with this sha256 and size was proven to decompress to exactly `contentBytes` of tar. */
  proves(archive: { sha256: string; archiveBytes: number; contentBytes: number }): boolean {
    return this.proven.get(`${archive.sha256}:${archive.archiveBytes}`) === archive.contentBytes;
  }
}

/** The worker's settings and the checks every backup activity module uses. */
export function createBackupContext({
  docker,
  stateDir = defaultStateDir(),
  backupDir = defaultBackupDir(stateDir),
  helperImage = process.env.DOCKFLOW_HELPER_IMAGE || undefined,
  pollIntervalMs = 500,
  archiveKeys = () => keysFromEnv(process.env),
  requireEncryption = process.env.DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION === '1',
  roundTrips = new RoundTripRegistry(),
}: BackupActivityDeps) {
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

  /** The candidates (then DOCKFLOW_HELPER_IMAGE) that are on this host, in order. */
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

  return { docker, pollIntervalMs, requireEncryption, keysFor, decryptorFor, destinationOf, firstImageOnHost, roundTrips };
}

/**
 * A destination that refuses us (a bad key, a bucket that does not exist,
 * credentials S3 rejects) will refuse every retry too: such an error fails
 * the activity for good, naming the destination.
 */
export function destinationFailuresAreFinal<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
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
