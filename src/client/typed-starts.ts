/**
 * Typed workflow starts: each operation's workflow type with the input it
 * takes and the result it returns, so a start with the wrong input, or a
 * result read as the wrong type, fails the type check instead of at run
 * time. The workflows declare their parameter `unknown` (they validate what
 * the UI or a script sends), so the inputs are named here; the results come
 * from the workflow functions themselves (imported as types only).
 */
import type { WorkflowClient, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import type * as workflows from '../../workflows';
import type { DeployInput, DownInput, HistoryInput, RollbackInput, UpdateInput } from '../model/input';
import type { BackupInput, ListBackupsInput, MigrateInput, RestoreInput } from '../model/backup-input';

/** What each operation's workflow is started with. */
export interface OperationInputs {
  deploy: DeployInput;
  update: UpdateInput;
  rollback: RollbackInput;
  history: HistoryInput;
  down: DownInput;
  backup: BackupInput;
  backups: ListBackupsInput;
  restore: RestoreInput;
  migrate: MigrateInput;
}

export type Operation = keyof OperationInputs;
export type OperationResult<O extends Operation> = Awaited<ReturnType<(typeof workflows)[O]>>;
/** The workflow as the client sees it: typed input, typed result. */
export type OperationWorkflow<O extends Operation> = (input: OperationInputs[O]) => Promise<OperationResult<O>>;

type StartOptions<O extends Operation> = Omit<WorkflowStartOptions<OperationWorkflow<O>>, 'args' | 'taskQueue' | 'workflowId'> & {
  taskQueue: string;
  workflowId: string;
  input: OperationInputs[O];
};

export function startOperation<O extends Operation>(
  client: WorkflowClient,
  type: O,
  { input, ...options }: StartOptions<O>,
): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<O>>> {
  return client.start<OperationWorkflow<O>>(type, { ...options, args: [input] } as WorkflowStartOptions<OperationWorkflow<O>>);
}

/** startOperation, then its result. */
export function executeOperation<O extends Operation>(client: WorkflowClient, type: O, { input, ...options }: StartOptions<O>): Promise<OperationResult<O>> {
  return client.execute<OperationWorkflow<O>>(type, { ...options, args: [input] } as WorkflowStartOptions<OperationWorkflow<O>>);
}
