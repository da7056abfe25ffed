/**
 * What every command that starts a workflow shares: the exit-code errors
 * main() maps (UsageError → 2, OperationFailed → 1), the output, and
 * runOperation (start, follow, print the result).
 */
import { temporalSettings } from '../temporal/settings';
import { progressPrinter, workflowFailureJson, workflowResultJson } from './render';
import type { Progress } from '../messages';
import { ErrorType } from '../errors';

export class UsageError extends Error {}

export class OperationFailed extends Error {}

export function out(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/**
 * Start a workflow, follow its progress unless detached, print its result.
 * With --json every outcome (detached, completed, failed) names the workflow
 * (workflowId, runId), so a script can go on with watch, history or cancel.
 */
export async function runOperation<R>(
  opts: { detach?: boolean; json?: boolean; quiet?: boolean; announce?: string; jsonOf?: (result: R) => object },
  start: (client: import('@temporalio/client').WorkflowClient, taskQueue: string) => Promise<import('@temporalio/client').WorkflowHandleWithFirstExecutionRunId>,
  render: (result: R) => string,
): Promise<void> {
  const { connectClient, failureMessage, failureTypeOf, follow } = await import('../client/operations');
  const settings = temporalSettings();
  const { client, close } = await connectClient(settings);
  try {
    const handle = await start(client.workflow, settings.taskQueue);
    if (opts.detach) {
      out(Boolean(opts.json), workflowResultJson(handle, {}), handle.workflowId);
      return;
    }
    if (opts.announce && !opts.json) process.stderr.write(`${opts.announce} (workflow ${handle.workflowId})\n`);
    let last: Progress | undefined;
    // With nothing to print (--json, --quiet), no progress queries: each is a workflow task on the
    // worker, and the one after the workflow closed replays its whole history (0.35-0.5 s under load).
    const watching = !(opts.json || opts.quiet);
    const printer = watching ? progressPrinter() : () => undefined;
    let result: R;
    try {
      result = watching
        ? await follow<R>(handle, (p) => {
            last = p;
            printer(p);
          })
        : ((await handle.result()) as R);
    } catch (err) {
      if (!watching) {
        // Only a failure needs the last progress: a cancelled operation reports there what it undid.
        const { progressQuery } = await import('../messages');
        last = await handle.query(progressQuery).catch(() => undefined);
      }
      // Cancelled operations report what they undid in their final progress phase.
      const cancelled = last?.phase.includes('was cancelled') ?? false;
      const message = cancelled ? last!.phase : failureMessage(err);
      if (opts.json) out(true, await workflowFailureJson(handle, err, message), '');
      // Input the worker refused before touching anything (e.g. update --scale on a container_name service) is bad input: exit 2.
      if (!cancelled && failureTypeOf(err) === ErrorType.invalidSpec) throw new UsageError(message);
      throw new OperationFailed(message);
    }
    out(Boolean(opts.json), workflowResultJson(handle, opts.jsonOf ? opts.jsonOf(result) : result), render(result));
  } catch (err) {
    if (err instanceof OperationFailed || err instanceof UsageError) throw err;
    throw new OperationFailed(failureMessage(err));
  } finally {
    await close();
  }
}
