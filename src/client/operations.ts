/**
 * Starting and following dockflow operations from a Temporal client: what the
 * CLI uses, and what any script can use.
 */
import { WorkflowFailedError, type WorkflowClient, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { DeployInput, DownInput, HistoryInput, RollbackInput, UpdateInput } from '../model/input';
import { startOperation, type OperationWorkflow } from './typed-starts';
import { progressQuery, splitFinalProgress, type Progress } from '../messages';
import { firstFailureType, rootMessage } from '../errors';
import { operationId } from './operation-id';

export { connectClient } from './connect';

export { operationId } from './operation-id';

/** `workflowId`: one chosen before (the CLI's, when a start without the SDK did not go through); default a new one. */
export async function startDeploy(
  client: WorkflowClient,
  taskQueue: string,
  project: string,
  input: DeployInput,
  workflowId = operationId(input.dryRun ? 'plan' : 'deploy', project),
): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'deploy'>>> {
  return startOperation(client, 'deploy', { taskQueue, workflowId, input });
}

export async function startUpdate(client: WorkflowClient, taskQueue: string, input: UpdateInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'update'>>> {
  return startOperation(client, 'update', { taskQueue, workflowId: operationId('update', input.project), input });
}

export async function startRollback(client: WorkflowClient, taskQueue: string, input: RollbackInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'rollback'>>> {
  return startOperation(client, 'rollback', { taskQueue, workflowId: operationId('rollback', input.project), input });
}

export async function startHistory(client: WorkflowClient, taskQueue: string, input: HistoryInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'history'>>> {
  return startOperation(client, 'history', { taskQueue, workflowId: operationId('history', input.project), input });
}

export async function startDown(client: WorkflowClient, taskQueue: string, input: DownInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'down'>>> {
  return startOperation(client, 'down', { taskQueue, workflowId: operationId('down', input.project), input });
}

/**
 * Poll the workflow's progress query and report each step when it changes
 * state, until the workflow closes. Returns the workflow's result.
 */
export async function follow<T>(handle: WorkflowHandle, onProgress: (p: Progress) => void, intervalMs = 500): Promise<T> {
  let settled = false;
  const result = handle.result().finally(() => {
    settled = true;
  });
  result.catch(() => undefined);
  while (!settled) {
    // A query in flight when the workflow closes is not waited for (nor shown): a worker answers a
    // closed workflow only by replaying its whole history (0.3 to 0.5 s under load).
    const asked = handle.query(progressQuery).then(
      (p) => {
        if (!settled) onProgress(p);
      },
      // The query fails until the first workflow task ran, and after the workflow closed.
      () => undefined,
    );
    await Promise.race([asked, result.catch(() => undefined)]);
    if (settled) break;
    // The timer is cleared once the result came: left pending, it kept the CLI alive up to intervalMs after it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([result.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, intervalMs)))]);
    clearTimeout(timer);
  }
  // A result that carries its last progress (deploy's) needs no query of the closed workflow.
  const outcome = await result.then(splitFinalProgress, () => undefined);
  if (outcome?.progress) onProgress(outcome.progress);
  else {
    try {
      onProgress(await handle.query(progressQuery));
    } catch {
      // closed workflows may not answer queries on every server; the result still counts
    }
  }
  return (outcome ? outcome.result : await result) as T;
}

/** The message a user needs from a failed workflow: the innermost cause. */
export function failureMessage(err: unknown): string {
  return rootMessage(err instanceof WorkflowFailedError ? (err.cause ?? err) : err);
}

/** The type of the first ApplicationFailure in a failed workflow's cause chain (e.g. "InvalidSpec"). */
export function failureTypeOf(err: unknown): string | undefined {
  return firstFailureType(err);
}
