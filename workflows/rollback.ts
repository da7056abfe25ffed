/**
 * rollback: put a project back to an earlier revision from the host's ledger,
 * with its exact image IDs, rolling, and record that as a new revision. It
 * needs nothing from Temporal's past: the ledger is on the host.
 */
import { ApplicationFailure, CancelledFailure, isCancellation } from '@temporalio/workflow';
import { HistoryInput, RollbackInput } from '../src/model/input';
import { describeChange, summarize, type RevisionSummary } from '../src/model/revision';
import { formatPlan } from '../src/plan/deploy-plan';
import { ErrorType, OperationFailure } from '../src/errors';
import { parseWorkflowInput } from './input';
import { ProgressTracker, rootMessage } from './progress';
import { failureType, host } from './apply';
import { changedServices, recordRevision, restoreRevision, revisionImageIds } from './revisions';
import { acquireProjectLock } from './lock';



export interface RollbackResult {
  project: string;
  restored: number;
  revision: number;
  plan: string;
}

export async function rollback(rawInput: unknown): Promise<RollbackResult> {
  const progress = new ProgressTracker('rollback', '');
  const input = parseWorkflowInput(RollbackInput, rawInput, 'rollback');
  progress.project = input.project;
  await acquireProjectLock(input.project, 'rollback', input.waitForLock, progress);

  const revisions = await host.listRevisions(input.project);
  const current = revisions.at(-1);
  if (!current) throw ApplicationFailure.nonRetryable(`project ${input.project} has no revisions in this host's ledger`, ErrorType.invalidSpec);
  const target = input.to === undefined ? revisions.at(-2) : revisions.find((r) => r.number === input.to);
  if (!target) {
    throw ApplicationFailure.nonRetryable(
      input.to === undefined
        ? `project ${input.project} has only revision ${current.number}: nothing earlier to roll back to`
        : `project ${input.project} has no revision ${input.to} (kept: ${revisions.map((r) => r.number).join(', ')})`,
      ErrorType.invalidSpec,
    );
  }
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
}

/** The project's revisions, oldest first, each with what it changed. */
export async function history(rawInput: unknown): Promise<HistoryEntry[]> {
  const { project } = parseWorkflowInput(HistoryInput, rawInput, 'history');
  const revisions = await host.listRevisions(project);
  return revisions.map((r, i) => ({ ...summarize(r), changes: describeChange(revisions[i - 1], r) }));
}
