/**
 * What deploy, update and rollback share about revisions: recording one,
 * restoring one, and failing with an automatic rollback.
 */
import { ApplicationFailure, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { Revision, RevisionOperation } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import type { DeployPlan } from '../src/plan/deploy-plan';
import { ErrorType, OperationFailure } from '../src/errors';
import { docker, executePlan, failureType, HostMismatch, host, observeAndPlan, RolloutFailure } from './apply';
import type { DeployOptions } from '../src/model/input';
import { rootMessage, type ProgressTracker } from './progress';
import { checkPolicyNow } from './policy';
import { fewerRoundTrips, quick } from './round-trips';
import { HookFailure } from './hooks';
import { loadComposeSource } from './compose-source';
import { Compensations } from './compensations';

export function changedServices(plan: DeployPlan): string[] {
  return plan.services.filter((s) => s.operations.length > 0).map((s) => s.service);
}

export function revisionImageIds(revision: Revision): Record<string, string> {
  return Object.fromEntries(Object.entries(revision.images).map(([service, image]) => [service, image.id]));
}

export function recordRevision(
  progress: ProgressTracker,
  input: { project: string; operation: RevisionOperation; spec: StackSpec; imageIds: Record<string, string>; changed: string[]; restoredFrom?: number },
): Promise<Revision> {
  const steps = fewerRoundTrips() ? quick.host : host;
  return progress.step(`record revision of ${input.project}`, () => steps.recordRevision({ ...input, workflowId: workflowInfo().workflowId }));
}

/**
 * Put the project back to a recorded revision: its spec with its exact image
 * IDs (no pull, no build), rolled with rollback_config. Services the revision
 * did not have are removed. The worker's policy as it is now must allow it.
 * Recreated containers keep their anonymous volumes unless
 * `renewAnonVolumes` (a rollback the user asked for; an automatic one never
 * renews).
 */
export async function restoreRevision(revision: Revision, progress: ProgressTracker, healthTimeoutSeconds?: number, renewAnonVolumes = false): Promise<DeployPlan> {
  await checkRevisionRunnable(revision, progress);
  const imageIds = revisionImageIds(revision);
  const plan = await observeAndPlan(revision.spec, imageIds, true, progress);
  await executePlan(revision.spec, plan, { removeOrphans: true, wait: true, rollingBack: true, healthTimeoutSeconds, renewAnonVolumes }, progress);
  return plan;
}

/**
 * What restoreRevision checks before it changes anything: the worker's
 * policy allows the revision now, and every image ID it pins is still on
 * the host. Non-retryable failures naming what is missing.
 */
export async function checkRevisionRunnable(revision: Revision, progress: ProgressTracker): Promise<void> {
  // A revision recorded under a looser policy does not run again once the policy was tightened.
  await checkPolicyNow(progress, revision.spec, revision.number);
  for (const [service, id] of Object.entries(revisionImageIds(revision))) {
    const present = await docker.imageExists(id);
    if (!present) {
      throw ApplicationFailure.nonRetryable(
        `revision ${revision.number} of ${revision.project}: image ${id} of service ${service} (${revision.images[service].ref}) is no longer on this host`,
        ErrorType.imageUnavailable,
      );
    }
  }
}

/**
 * How a failed change is put back: every host to a revision, or the project
 * removed from every host (no earlier revision). This workflow's own host
 * by default (putBackOnThisHost); every host across hosts (hosts.ts).
 */
export interface PutBack {
  restore(previous: Revision): Promise<unknown>;
  removeAll(): Promise<string[]>;
}

/** Put back on this workflow's own host: restoreRevision, or the project's containers removed. */
export function putBackOnThisHost(operation: string, project: string, progress: ProgressTracker): PutBack {
  return {
    restore: (previous) => restoreRevision(previous, progress),
    removeAll: async () => (await progress.step(`remove what this ${operation} created`, () => docker.downProject({ project, volumes: false }))).removed,
  };
}

/**
 * A change failed. With failure_action rollback and a previous revision, the
 * whole project goes back to that revision (even if this workflow is being
 * cancelled) before the workflow fails with both causes. A cancelled change
 * is undone the same way, or (no previous revision) what it created is
 * removed. The undo runs as a compensation (compensations.ts); its failure
 * is the operation's.
 */
export async function failAfterRollback(
  operation: string,
  project: string,
  err: unknown,
  previous: Revision | undefined,
  progress: ProgressTracker,
  putBack: PutBack = putBackOnThisHost(operation, project, progress),
): Promise<never> {
  const undo = new Compensations();
  let undone = '';
  if (previous) {
    undo.push({
      title: `restore revision ${previous.number}`,
      onFailure: 'abort',
      run: async () => {
        await putBack.restore(previous);
        undone = `restored revision ${previous.number}`;
      },
    });
  } else {
    undo.push({
      title: `remove what this ${operation} created`,
      onFailure: 'abort',
      run: async () => {
        const removed = await putBack.removeAll();
        undone = `removed ${removed.length ? removed.join(', ') : 'nothing'} (there was no earlier revision)`;
      },
    });
  }
  if (isCancellation(err)) {
    // Cancelled (CLI or UI): undo out of the cancellation's reach, then report what was undone.
    progress.phase('cancelled: undoing');
    await undo.run();
    const summary = `${operation} of ${project} was cancelled; ${undone}`;
    // A cancelled workflow's record does not keep this message; the progress query does.
    progress.phase(summary);
    throw new CancelledFailure(summary);
  }
  const cause = rootMessage(err);
  if ((err instanceof RolloutFailure || err instanceof HostMismatch || err instanceof HookFailure) && err.failureAction === 'rollback') {
    if (!previous) {
      progress.phase('failed');
      throw ApplicationFailure.nonRetryable(`${operation} of ${project} failed and there is no earlier revision to roll back to: ${cause}`, ErrorType.unhealthy);
    }
    progress.phase('rolling back');
    await undo.run();
    progress.phase('rolled back');
    throw ApplicationFailure.nonRetryable(`${operation} of ${project} failed and was rolled back to revision ${previous.number}: ${cause}`, OperationFailure.rolledBack);
  }
  progress.phase('failed');
  const paused = err instanceof RolloutFailure ? ' (update paused: containers replaced so far keep the new version)' : '';
  throw ApplicationFailure.nonRetryable(`${operation} of ${project} failed${paused}: ${cause}`, failureType(err, OperationFailure.deployFailed));
}

/**
 * The revision a rollback starts from (the latest) and the one it goes to
 * (`to`, else the one before the latest), from a ledger's revisions oldest
 * first; a non-retryable failure when either is missing. `where` names the
 * ledgers read ("this host's ledger", "the ledgers of host-1, host-2").
 */
export function rollbackTarget(project: string, revisions: Revision[], to: number | undefined, where: string): { current: Revision; target: Revision } {
  const current = revisions.at(-1);
  if (!current) throw ApplicationFailure.nonRetryable(`project ${project} has no revisions in ${where}`, ErrorType.invalidSpec);
  const target = to === undefined ? revisions.at(-2) : revisions.find((r) => r.number === to);
  if (!target) {
    throw ApplicationFailure.nonRetryable(
      to === undefined
        ? `project ${project} has only revision ${current.number}: nothing earlier to roll back to`
        : `project ${project} has no revision ${to} (kept: ${revisions.map((r) => r.number).join(', ')})`,
      ErrorType.invalidSpec,
    );
  }
  return { current, target };
}

/**
 * The stack a deploy applies: its inline spec, or its compose files read by
 * `hosts` (this workflow's own worker on one host; the default host's across
 * hosts), under the step title `title`.
 */
export async function loadDeploySpec(input: DeployOptions, hosts: typeof host, title: string, progress: ProgressTracker): Promise<{ spec: StackSpec; warnings: string[] }> {
  if (input.spec) return { spec: input.spec, warnings: [] };
  return loadComposeSource(input, hosts, title, progress);
}
