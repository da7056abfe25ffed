/**
 * One mutating operation per project. The lock is a child workflow with a
 * fixed ID per project (`dockflow-lock-<project>`) and parent close policy
 * TERMINATE: Temporal itself ends it when the operation that holds it
 * completes, fails, is cancelled or is terminated, so the lock cannot outlive
 * its holder and there is nothing to release by hand. A second operation that
 * tries to start the same child gets "already started" and either fails
 * naming the holder or waits (`waitForLock`).
 */
import { ApplicationFailure, ParentClosePolicy, sleep, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { host } from './apply';
import { PROJECT_NAME_RULE, ProjectName, isProjectName } from '../src/model/names';
import { ErrorType, OperationFailure } from '../src/errors';
import type { ProgressTracker } from './progress';
import type { LockHolder } from '../src/model/lock';
import { projectLock, lockWorkflowId } from './project-lock';

export type { LockHolder };
export { projectLock, lockWorkflowId, releaseLockSignal, lockHolderQuery } from './project-lock';

/**
 * The lock's input as a schema, for the fuzzer (test/fuzz): the lock workflow
 * itself checks it without zod (lockHolderProblems in workflows/project-lock.ts),
 * and the fuzzer holds the two to the same answers.
 */
export const LockHolderInput = z.strictObject({
  project: ProjectName,
  operation: z.string().min(1),
  workflowId: z.string().min(1),
  since: z.string().min(1),
});

/** How often a waiting operation tries the lock again. */
const LOCK_RETRY = '2s';

export async function acquireProjectLock(project: string, operation: string, waitForLock: boolean, progress: ProgressTracker): Promise<void> {
  // Inputs are validated before this; checked again because the lock's ID is built from the name,
  // and a name that is not a project's must never hold (or wait for) any project's lock.
  if (!isProjectName(project)) {
    throw ApplicationFailure.nonRetryable(`${operation}: ${JSON.stringify(project)} is not a valid project name: ${PROJECT_NAME_RULE}`, ErrorType.invalidSpec);
  }
  const info = workflowInfo();
  const holder: LockHolder = { project, operation, workflowId: info.workflowId, since: new Date(info.startTime).toISOString() };
  let waitingSince: number | undefined;
  for (;;) {
    try {
      await startChild(projectLock, {
        workflowId: lockWorkflowId(project),
        args: [holder],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
      return;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const current = await host.describeLock(project);
    if (!current) continue; // released between our try and our look: try again at once
    if (!waitForLock) {
      throw ApplicationFailure.nonRetryable(
        `project ${project} is busy: ${current.operation} ${current.workflowId} has been running since ${current.since}. ` +
          'Try again when it has finished, or wait for it (--wait, or "waitForLock": true).',
        OperationFailure.projectBusy,
      );
    }
    if (waitingSince === undefined) {
      waitingSince = Date.now();
      progress.phase(`waiting for ${current.operation} ${current.workflowId}`);
    }
    await sleep(LOCK_RETRY);
  }
}
