/**
 * rollback: put a project back to an earlier revision from the host's ledger,
 * with its exact image IDs, rolling, and record that as a new revision. It
 * needs nothing from Temporal's past: the ledger is on the host.
 */
import { ApplicationFailure, CancelledFailure, isCancellation } from '@temporalio/workflow';
import { HistoryInput, RollbackInput } from '../src/model/input';
import { describeChange, summarize, type RevisionSummary } from '../src/model/revision';
import { formatPlan } from '../src/plan/deploy-plan';
import { OperationFailure } from '../src/errors';
import { parseWorkflowInput } from './input';
import { trackOperation, rootMessage } from './progress';
import { docker, failureType, host } from './apply';
import { changedServices, recordRevision, restoreRevision, revisionImageIds, rollbackTarget } from './revisions';
import { acquireProjectLock } from './lock';
import { rollbackWithData } from './rollback-data';
import { backupForRevision } from '../src/backup/revision-backup';
import type { BackupReason, BackupSummary } from '../src/backup/manifest';
import type { Revision } from '../src/model/revision';
import { historyAcrossHosts, type HistoryAcrossHosts } from './host-history';
import { rollbackAcrossHosts } from './hosts';
import { isPatched } from './patches';
import type { RollbackResult } from './results';

/** Marks rollbacks with data (a path only an input with "withData": true takes; no earlier history reaches it). */
export const ROLLBACK_DATA_PATCH = 'dockflow-rollback-with-data';
/** `history` lists the project's backups to name each revision's data backup. */
export const HISTORY_BACKUPS_PATCH = 'dockflow-history-data-backups';

/** The result type, imported from here by the CLI and the tests. */
export type { RollbackResult };

export async function rollback(rawInput: unknown): Promise<RollbackResult> {
  const { progress, input } = trackOperation('rollback', () => parseWorkflowInput(RollbackInput, rawInput, 'rollback'), (i) => i.project);
  progress.project = input.project;
  await acquireProjectLock(input.project, 'rollback', input.waitForLock, progress);
  // Only an input that names hosts goes there: every other rollback runs below, as it always did.
  if (input.hosts) return rollbackAcrossHosts({ ...input, hosts: input.hosts }, progress);

  const revisions = await host.listRevisions(input.project);
  const { current, target } = rollbackTarget(input.project, revisions, input.to, "this host's ledger");
  if (input.withData && isPatched(ROLLBACK_DATA_PATCH)) return rollbackWithData(input, revisions, current, target, progress);
  progress.phase('executing');
  let plan;
  try {
    plan = await restoreRevision(target, progress, input.healthTimeoutSeconds, input.renewAnonVolumes);
  } catch (err) {
    // A cancelled rollback leaves the project between two recorded revisions; say so plainly.
    if (isCancellation(err)) {
      progress.phase('cancelled');
      throw new CancelledFailure(`rollback of ${input.project} to revision ${target.number} was cancelled part-way; run it again to finish it`);
    }
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`rollback of ${input.project} to revision ${target.number} failed: ${rootMessage(err)}`, failureType(err, OperationFailure.rollbackFailed));
  }
  const revision = await recordRevision(progress, {
    project: input.project,
    operation: 'rollback',
    spec: target.spec,
    imageIds: revisionImageIds(target),
    changed: changedServices(plan),
    restoredFrom: target.number,
  });
  progress.phase('done');
  return { project: input.project, restored: target.number, revision: revision.number, plan: formatPlan(plan) };
}

export interface HistoryEntry extends RevisionSummary {
  changes: string[];
  /**
   * The backup `rollback --to <number> --with-data` would restore (src/backup/revision-backup.ts),
   * null when the revision has none; absent when the backups could not be listed.
   */
  dataBackup?: { id: string; reason: BackupReason; createdAt: string } | null;
}

/**
 * The project's revisions, oldest first, each with what it changed and the
 * backup of its data. Across hosts (an input naming them), every host's
 * ledger and backups, with the hosts that did not answer.
 */
export async function history(rawInput: unknown): Promise<HistoryEntry[] | HistoryAcrossHosts<HistoryEntry>> {
  const input = parseWorkflowInput(HistoryInput, rawInput, 'history');
  const { project, destination } = input;
  if (input.hosts) {
    // Only an input that names hosts comes here: every other history runs below, as it always did.
    const found = await historyAcrossHosts({ ...input, hosts: input.hosts });
    return { revisions: historyEntries(found.revisions, found.backups), unreachable: found.unreachable };
  }
  const revisions = await host.listRevisions(project);
  let backups: Awaited<ReturnType<typeof docker.listBackups>>['backups'] | undefined;
  if (isPatched(HISTORY_BACKUPS_PATCH)) {
    try {
      ({ backups } = await docker.listBackups({ project, destination }));
    } catch (err) {
      // The ledger is the history; an unreadable default backup directory only hides the data backups.
      if (destination !== undefined || isCancellation(err)) throw err;
    }
  }
  return historyEntries(revisions, backups);
}

/** Each revision with what it changed since the one before, and (when the backups were listed) its data backup. */
function historyEntries(revisions: Revision[], backups: BackupSummary[] | undefined): HistoryEntry[] {
  return revisions.map((r, i) => {
    const entry: HistoryEntry = { ...summarize(r), changes: describeChange(revisions[i - 1], r) };
    if (backups) {
      const b = backupForRevision(r, backups);
      entry.dataBackup = b ? { id: b.id, reason: b.reason, createdAt: b.createdAt } : null;
    }
    return entry;
  });
}
