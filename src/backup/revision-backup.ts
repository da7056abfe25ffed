/**
 * Which backup holds a revision's data, for `rollback --with-data` and
 * `history`.
 *
 * The tie is the manifest's `revision` field: every backup dockflow has
 * written (plain, scheduled, pre-migration, the safety copy of a rollback
 * with data) records the ledger revision the project was at while its data
 * was archived, i.e. the revision that data belonged to. A manifest without
 * the field was taken while the project had no revision at all (a backup
 * from compose files before the first deploy): it belongs to no revision and
 * is never matched, not even by time, since a time window would hand it to a
 * revision whose images never ran on that data.
 *
 * A backup of revision N also cannot have been verified before revision N
 * was recorded: one that was belongs to an earlier ledger of the same
 * project (a state directory wiped and numbered from 1 again) and is left
 * out.
 *
 * Of revision N's backups, the one taken just before the operation that
 * followed N changed the data:
 * - a migration that succeeded while N was current (the ledger lists it in
 *   revision N's `links.migrations`): its pre-migration backup, the first
 *   such migration's when there were several, which is the data before any
 *   migration changed it. A migration that failed restored its own backup,
 *   so it changed nothing and does not count;
 * - otherwise the next deploy, update or rollback: the newest backup of N.
 *
 * Pure: workflows import it.
 */
import type { BackupReason } from './manifest';

export interface BackupCandidate {
  id: string;
  /** The workflow that took it: a migration's own workflow ID for a pre-migration backup. */
  workflowId: string;
  reason: BackupReason;
  revision?: number;
  createdAt: string;
  verifiedAt: string;
}

export interface RevisionRef {
  number: number;
  /** ISO time the revision was recorded. */
  createdAt: string;
  /** Workflow IDs of the migrations that succeeded while this revision was current. */
  links: { migrations: string[] };
}

const byTime = (a: BackupCandidate, b: BackupCandidate) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

/** Every backup whose data belonged to this revision, oldest first. */
export function backupsOfRevision<B extends BackupCandidate>(revision: RevisionRef, backups: B[]): B[] {
  const recorded = Date.parse(revision.createdAt);
  return backups
    .filter((b) => b.revision === revision.number && !(Date.parse(b.verifiedAt) < recorded))
    .sort(byTime);
}

/** The backup `rollback --to N --with-data` restores for revision N, or undefined when it has none. */
export function backupForRevision<B extends BackupCandidate>(revision: RevisionRef, backups: B[]): B | undefined {
  const own = backupsOfRevision(revision, backups);
  return own.find((b) => b.reason === 'migrate' && revision.links.migrations.includes(b.workflowId)) ?? own.at(-1);
}
