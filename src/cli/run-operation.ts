/**
 * What every command that starts a workflow shares: the exit-code errors
 * main() maps (UsageError → 2, OperationFailed → 1), the output, and
 * runOperation (start, follow, print the result).
 */
import { temporalSettings, type TemporalSettings } from '../temporal/settings';
import { progressPrinter, workflowFailureJson, workflowResultJson } from './render';
import { splitFinalProgress, type Progress } from '../messages';
import { ErrorType } from '../errors';

export class UsageError extends Error {}

export class OperationFailed extends Error {}

export function out(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** How a command's run is shown: --detach, --json, --quiet (no progress), the line announcing the workflow. */
export interface RunOptions<R> {
  detach?: boolean;
  json?: boolean;
  quiet?: boolean;
  announce?: string;
  jsonOf?: (result: R) => object;
}

/** A started run as the SDK's handle exposes it: enough to name it, ask its progress and read its outcome. */
export interface FollowedRun {
  workflowId: string;
  firstExecutionRunId: string;
  query(query: typeof import('../messages').progressQuery): Promise<Progress>;
}

/**
 * Start a workflow, follow its progress unless detached, print its result.
 * With --json every outcome (detached, completed, failed) names the workflow
 * (workflowId, runId), so a script can go on with watch, history or cancel.
 */
export async function runOperation<R>(
  opts: RunOptions<R>,
  start: (client: import('@temporalio/client').WorkflowClient, taskQueue: string) => Promise<import('@temporalio/client').WorkflowHandleWithFirstExecutionRunId>,
  render: (result: R) => string,
): Promise<void> {
  const { follow } = await import('../client/operations');
  const settings = temporalSettings();
  await withSdkClient(settings, async (client) => {
    const handle = await start(client.workflow, settings.taskQueue);
    if (detached(opts, handle)) return;
    // With nothing to print (--json, --quiet), no progress queries: each is a workflow task on the
    // worker, and the one after the workflow closed replays its whole history (0.35-0.5 s under load).
    const printer = watchingPrinter(opts);
    let last: Progress | undefined;
    await settleOperation(handle, opts, render, {
      outcome: () =>
        printer
          ? follow<R>(handle, (p) => {
              last = p;
              printer(p);
            })
          : (handle.result() as Promise<R>),
      last: () => last,
    });
  });
}

/**
 * `fn` with a connected SDK client, closed afterwards. An error that is not
 * already the CLI's own (OperationFailed, UsageError) is worded as an
 * operation failure, from its root cause.
 */
export async function withSdkClient<T>(settings: TemporalSettings, fn: (client: import('@temporalio/client').Client) => Promise<T>): Promise<T> {
  const { connectClient, failureMessage } = await import('../client/operations');
  const { client, close } = await connectClient(settings);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof OperationFailed || err instanceof UsageError) throw err;
    throw new OperationFailed(failureMessage(err));
  } finally {
    await close();
  }
}

/** --detach: print the run's name and stop there (true); otherwise announce it unless --json (false). */
export function detached(opts: RunOptions<never>, run: { workflowId: string; firstExecutionRunId: string }): boolean {
  if (opts.detach) {
    out(Boolean(opts.json), workflowResultJson(run, {}), run.workflowId);
    return true;
  }
  if (opts.announce && !opts.json) process.stderr.write(`${opts.announce} (workflow ${run.workflowId})\n`);
  return false;
}

/** The progress printer when progress is shown (not --json, not --quiet); undefined otherwise. */
export function watchingPrinter(opts: RunOptions<never>): ((p: Progress) => void) | undefined {
  return opts.json || opts.quiet ? undefined : progressPrinter();
}

/**
 * The end of a run: `outcome` (its result, after following it or not)
 * printed, or its failure thrown as the exit-code error main() maps. `last`
 * is the last progress seen while following (undefined when not followed:
 * then it is asked only on failure, for a cancellation's message).
 */
export async function settleOperation<R>(
  run: FollowedRun,
  opts: RunOptions<R>,
  render: (result: R) => string,
  { outcome, last }: { outcome: () => Promise<R>; last: () => Progress | undefined },
): Promise<void> {
  const watching = !(opts.json || opts.quiet);
  let result: R;
  try {
    result = await outcome();
  } catch (err) {
    const { failureMessage, failureTypeOf } = await import('../client/operations');
    let progress = last();
    if (!watching) {
      // Only a failure needs the last progress: a cancelled operation reports there what it undid.
      const { progressQuery } = await import('../messages');
      progress = await run.query(progressQuery).catch(() => undefined);
    }
    // Cancelled operations report what they undid in their final progress phase.
    const cancelled = progress?.phase.includes('was cancelled') ?? false;
    const message = cancelled ? progress!.phase : failureMessage(err);
    if (opts.json) out(true, await workflowFailureJson(run, err, message), '');
    // Input the worker refused before touching anything (e.g. update --scale on a container_name service) is bad input: exit 2.
    if (!cancelled && failureTypeOf(err) === ErrorType.invalidSpec) throw new UsageError(message);
    throw new OperationFailed(message);
  }
  const shown = splitFinalProgress(result).result;
  out(Boolean(opts.json), workflowResultJson(run, opts.jsonOf ? opts.jsonOf(shown) : shown), render(shown));
}
