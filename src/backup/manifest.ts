/**
 * The backup manifest: `manifest.json` beside the archives, written last and
 * only after every archive was read back and its checksum matched. A backup
 * directory without a manifest is incomplete and never counts as a backup.
 *
 * Layout in a destination:
 *
 *   <project>/<backup id>/manifest.json
 *   <project>/<backup id>/SHA256SUMS            (for `sha256sum -c`)
 *   <project>/<backup id>/volume-<key>.tar.gz   (one per data set)
 *
 * Each archive is a gzip-compressed tar whose entries live under
 * `dockflow-volume/` (the data set's root), as the Docker API produced it.
 * By hand: `tar xzf volume-db.tar.gz --strip-components=1 -C /target`.
 *
 * Pure: workflows import it.
 */
import { z } from 'zod';
import { ARCHIVE_ROOT, BACKUP_ID_PATTERN } from './ids';
import { PROJECT_NAME_PATTERN } from '../model/names';
import { BackupReason } from '../model/backup-ids';

export const MANIFEST_FORMAT = 1;

/*
 * A manifest is read back from a directory anyone with write access to the
 * destination can edit, so it is untrusted input: every string that names
 * something on the host is held to the shape dockflow itself writes. (A
 * restore then also checks each data set against the project's spec:
 * src/backup/manifest-check.ts.)
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const text = (what: string) => z.string().min(1).refine((s) => !CONTROL.test(s), `${what} must not contain control characters`);
/** Docker's rule for volume names. */
export const VOLUME_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** What src/backup/ids.ts archiveFileName writes: one file name, no path. */
export const ARCHIVE_FILE_PATTERN = /^(volume|bind)-[A-Za-z0-9_.-]+\.tar\.gz$/;
/** An image reference as Docker prints it (name[:tag][@digest]) or an image ID. */
const IMAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;

/** An absolute POSIX path with no `.`, `..`, empty or trailing segments, and not `/` itself. */
export function isNormalAbsolutePath(p: string): boolean {
  if (!p.startsWith('/') || p === '/' || p.endsWith('/')) return false;
  return p
    .slice(1)
    .split('/')
    .every((part) => part !== '' && part !== '.' && part !== '..');
}

export { BackupReason };

/** The only archive encryption there is (src/backup/archive-crypto.ts). */
export const ARCHIVE_ENCRYPTION = 'aes-256-gcm-chunked-v1' as const;

export const ArchiveEntry = z
  .strictObject({
    /** What the user names with --volume: a volume key (`db-data`) or a bind path (`./data`, or absolute outside the project). */
    key: text('a data set key'),
    kind: z.enum(['volume', 'bind']),
    /** Docker volume name, or the absolute host path of a bind mount. */
    source: text('a source'),
    /** Services that mounted it when the backup was taken. */
    services: z.array(text('a service name')),
    /** File name inside the backup directory. */
    archive: z.string().regex(ARCHIVE_FILE_PATTERN, 'an archive file name such as volume-db-data.tar.gz (no path)'),
    /** Top directory of the tar entries. */
    root: z.literal(ARCHIVE_ROOT),
    /** Size of the .tar.gz file. */
    archiveBytes: z.number().int().nonnegative(),
    /** Size of the uncompressed tar stream. */
    contentBytes: z.number().int().nonnegative(),
    /** sha256 of the .tar.gz file, hex. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** Images on the host that could mount it when it was taken: a restore's helper uses them when no container of the project is left. */
    images: z.array(z.string().regex(IMAGE_PATTERN, 'an image reference or ID')).optional(),
    /**
     * Set when the archive is encrypted with a worker's key (its ID, as the
     * codec names keys): the sha256 and archiveBytes are the stored
     * ciphertext's, contentBytes the tar's inside.
     */
    encryption: z.strictObject({ scheme: z.literal(ARCHIVE_ENCRYPTION), keyId: z.string().regex(/^[0-9a-f]{12}$/, 'a key ID (12 hex digits)') }).optional(),
    /**
     * Across several Docker hosts: the host the data set was archived on
     * (where the services mounting it ran); a restore puts it back there.
     * Absent on a single host.
     */
    host: z.string().regex(PROJECT_NAME_PATTERN, 'a host name').optional(),
    /**
     * Set on one host's copy of a data set that a spread service holds on
     * each of its hosts (src/backup/hosts.ts): the manifest has one entry
     * per host copy, each with its `host` and an archive file naming it, and
     * a restore puts each back on its host. Absent on every other entry (and
     * in every manifest written before copies existed).
     */
    hostCopy: z.literal(true).optional(),
    /** For a volume: how to create it again if it is gone at restore time. */
    volume: z
      .strictObject({
        driver: z.string(),
        labels: z.record(z.string(), z.string()),
        options: z.record(z.string(), z.string()),
      })
      .optional(),
  })
  .superRefine((a, ctx) => {
    if (a.kind === 'volume' && !VOLUME_NAME_PATTERN.test(a.source)) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: `${JSON.stringify(a.source)} is not a Docker volume name` });
    }
    if (a.kind === 'bind' && !isNormalAbsolutePath(a.source)) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: `${JSON.stringify(a.source)} is not a normalized absolute directory path other than "/"` });
    }
    if (a.hostCopy && a.host === undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'a host copy names its host' });
  });
export type ArchiveEntry = z.infer<typeof ArchiveEntry>;

export const HookRecord = z.strictObject({
  service: z.string(),
  phase: z.enum(['pre', 'post']),
  command: z.array(z.string()),
  container: z.string().optional(),
  exitCode: z.number().int().optional(),
  outcome: z.enum(['ok', 'failed', 'timed out', 'skipped']),
  /** Last lines of output when it failed. */
  detail: z.string().optional(),
});
export type HookRecord = z.infer<typeof HookRecord>;

export const BackupManifest = z
  .strictObject({
    format: z.literal(MANIFEST_FORMAT),
    id: z.string().regex(BACKUP_ID_PATTERN, 'a backup ID such as 20261122-030000-1a2b3c4d'),
    project: z.string().regex(PROJECT_NAME_PATTERN, 'a project name'),
    reason: BackupReason,
    /** The Temporal workflow that took it. */
    workflowId: text('a workflow ID'),
    /** The ledger revision the project was at, when it has a ledger. */
    revision: z.number().int().positive().optional(),
    /** ISO times: workflow start, archives done, read-back verified. */
    createdAt: z.iso.datetime(),
    completedAt: z.iso.datetime(),
    verifiedAt: z.iso.datetime(),
    archives: z.array(ArchiveEntry),
    /** Containers stopped for consistency and started again afterwards. */
    stopped: z.array(text('a container name')),
    hooks: z.array(HookRecord),
    warnings: z.array(z.string()),
    /** Set when the backup was taken before a migration. */
    migration: z.strictObject({ service: z.string(), command: z.array(z.string()) }).optional(),
  })
  .superRefine((m, ctx) => {
    // Two entries for one data set (on one host) or one file would make a restore write one place twice.
    const place = (a: ArchiveEntry) => (a.hostCopy ? `${a.key} on ${a.host}` : a.key);
    for (const [field, of] of [['key', place], ['archive', (a: ArchiveEntry) => a.archive]] as const) {
      const seen = new Set<string>();
      m.archives.forEach((a, i) => {
        if (seen.has(of(a))) ctx.addIssue({ code: 'custom', path: ['archives', i, field], message: `${JSON.stringify(of(a))} appears twice` });
        seen.add(of(a));
      });
    }
    // A data set is held either once or as host copies, never both.
    m.archives.forEach((a, i) => {
      if (!a.hostCopy && m.archives.some((b) => b.hostCopy && b.key === a.key)) {
        ctx.addIssue({ code: 'custom', path: ['archives', i, 'hostCopy'], message: `${JSON.stringify(a.key)} has host copies and an entry that is not one` });
      }
    });
  });
export type BackupManifest = z.infer<typeof BackupManifest>;

/** What `dockflow backups` lists. */
export interface BackupSummary {
  id: string;
  project: string;
  reason: BackupReason;
  workflowId: string;
  revision?: number;
  createdAt: string;
  verifiedAt: string;
  archives: { key: string; kind: 'volume' | 'bind'; archiveBytes: number; sha256: string; encrypted?: true; host?: string }[];
  totalBytes: number;
}

export function summarizeManifest(m: BackupManifest): BackupSummary {
  return {
    id: m.id,
    project: m.project,
    reason: m.reason,
    workflowId: m.workflowId,
    ...(m.revision !== undefined ? { revision: m.revision } : {}),
    createdAt: m.createdAt,
    verifiedAt: m.verifiedAt,
    archives: m.archives.map((a) => ({
      key: a.key,
      kind: a.kind,
      archiveBytes: a.archiveBytes,
      sha256: a.sha256,
      ...(a.encryption ? { encrypted: true as const } : {}),
      // A host copy is one of several entries of its data set: the host tells them apart.
      ...(a.hostCopy ? { host: a.host } : {}),
    })),
    totalBytes: m.archives.reduce((sum, a) => sum + a.archiveBytes, 0),
  };
}

/** `sha256sum -c` input. */
export function sha256sums(m: BackupManifest): string {
  return m.archives.map((a) => `${a.sha256}  ${a.archive}\n`).join('');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
