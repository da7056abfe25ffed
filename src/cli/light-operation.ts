/**
 * Starting and following an operation without the Temporal SDK (issue 17:
 * `dockflow deploy` as a process). Loading the SDK (gRPC, the reflection of
 * every Temporal message, the data converter) costs 0.25 to 0.7 s of CPU
 * before the workflow can start; the light client (src/client/light-temporal.ts)
 * lists, starts, queries and waits with none of it.
 *
 * Same output as runOperation (./run-operation.ts), which is the fallback:
 * - nothing started yet (no connection, keys the light client cannot read,
 *   registered hosts to look up, a start the server refused): the caller
 *   runs the SDK path from the start, which words every error as before;
 * - started, but the run did not complete (failed, cancelled, timed out,
 *   continued) or its result is one the light client does not decode: the
 *   SDK reads that same run's outcome, and the failure is worded as before.
 */
import type { LightTemporal } from '../client/light-temporal';
import { progressQuery, splitFinalProgress, type Progress } from '../messages';
import type { TemporalSettings } from '../temporal/settings';
import { detached, settleOperation, watchingPrinter, withSdkClient, type RunOptions } from './run-operation';

/** How long the light client waits for Temporal to accept a connection before the SDK path takes over (and its own 10 s). */
const CONNECT_TIMEOUT_MS = 3_000;
const POLL_INTERVAL_MS = 500;
/** connectLight waits at most this long for Temporal to take its first question (localhost: a few ms). */
const ASKED_WITHIN_MS = 100;
const HOST_REGISTRATIONS_QUERY = `WorkflowType = 'hostRegistration' AND ExecutionStatus = 'Running'`;

/** A light connection being opened, with the registered hosts asked for as soon as it is up. */
export interface LightConnecting {
  /** Undefined: no light connection (the SDK path runs instead). */
  light: Promise<LightTemporal | undefined>;
  /** How many hosts are registered; undefined when the light client could not tell. */
  registeredHosts: Promise<number | undefined>;
  close(): Promise<void>;
}

/**
 * Opens the light connection and asks for the registered hosts as soon as it
 * is up. Resolves once that question is on its way (or after
 * ASKED_WITHIN_MS), so that the server answers it while the caller loads the
 * compose files (0.15 to 0.3 s of CPU). Never rejects: anything that goes
 * wrong leaves the SDK path to try, and word it.
 */
export async function connectLight(settings: TemporalSettings): Promise<LightConnecting> {
  let light: Promise<LightTemporal | undefined>;
  const abandon = new AbortController();
  try {
    const [{ LightTemporal }, { cliKeys }] = await Promise.all([import('../client/light-temporal'), import('../temporal/dev-key')]);
    // cliKeys throws on an unreadable dev-server record: the SDK's connect words it.
    light = LightTemporal.connect(settings, cliKeys(settings.address), CONNECT_TIMEOUT_MS, abandon.signal).catch(() => undefined);
  } catch {
    light = Promise.resolve(undefined);
  }
  // list() sends its request before it returns its promise, so `asked` settles once it is sent.
  const listing = light.then((l) => (l ? { found: l.list(HOST_REGISTRATIONS_QUERY) } : undefined));
  const registeredHosts = listing.then((l) => l?.found).then((found) => found?.length, () => undefined);
  await pause(listing, ASKED_WITHIN_MS);
  return {
    light,
    registeredHosts,
    close: async () => {
      // Still connecting (the command ended before it needed Temporal): given up at once, not waited for.
      abandon.abort();
      (await light)?.close();
    },
  };
}

/** The workflow a command starts: its type, ID and the one argument it takes. */
export interface OperationStart {
  type: string;
  workflowId: string;
  input: unknown;
}

/**
 * Starts `start` through the light client and follows it as runOperation
 * would. False when nothing was started (the caller then runs the SDK path,
 * with the same workflow ID when the start's outcome is unknown).
 */
export async function runLightOperation<R>(
  light: LightTemporal,
  settings: TemporalSettings,
  opts: RunOptions<R>,
  start: OperationStart,
  render: (result: R) => string,
): Promise<boolean> {
  let runId: string;
  try {
    runId = await light.start(start.type, { workflowId: start.workflowId, taskQueue: settings.taskQueue, arg: start.input });
  } catch {
    return false;
  }
  const run = {
    workflowId: start.workflowId,
    firstExecutionRunId: runId,
    query: async () => (await light.query(start.workflowId, runId, progressQuery.name)) as Progress,
  };
  if (detached(opts, run)) return true;
  const printer = watchingPrinter(opts);
  let last: Progress | undefined;
  const onProgress = (p: Progress) => {
    last = p;
    printer?.(p);
  };
  let result: R;
  try {
    result = (await (printer ? followLight(light, run.workflowId, runId, onProgress) : light.result(run.workflowId, runId))) as R;
  } catch {
    // Not completed (LightUnsupported), not readable here, or the connection lost (GrpcError):
    // the SDK reads the same run, as runOperation would have.
    await settleThroughSdk(settings, opts, render, run, Boolean(printer), onProgress);
    return true;
  }
  await settleOperation(run, opts, render, { outcome: async () => result, last: () => last });
  return true;
}

/**
 * The run's progress every POLL_INTERVAL_MS until it closes, then its last
 * progress (from the result when it carries it: no query of the closed run),
 * as follow() in src/client/operations.ts does. Rejects with the light
 * client's error when the run did not complete or cannot be read.
 */
async function followLight(light: LightTemporal, workflowId: string, runId: string, onProgress: (p: Progress) => void): Promise<unknown> {
  let settled = false;
  const result = light.result(workflowId, runId).finally(() => {
    settled = true;
  });
  result.catch(() => undefined);
  while (!settled) {
    // A query in flight when the run closes is not waited for (nor shown): the server hands it to a
    // worker that answers a closed run only by replaying its whole history (0.3 to 0.5 s under load).
    const asked = light.query(workflowId, runId, progressQuery.name).then(
      (p) => {
        if (!settled) onProgress(p as Progress);
      },
      // The query fails until the first workflow task ran, and after the workflow closed.
      () => undefined,
    );
    await Promise.race([asked, result.catch(() => undefined)]);
    if (!settled) await pause(result, POLL_INTERVAL_MS);
  }
  const { progress } = splitFinalProgress(await result);
  if (progress) onProgress(progress);
  else {
    try {
      onProgress((await light.query(workflowId, runId, progressQuery.name)) as Progress);
    } catch {
      // closed workflows may not answer queries on every server; the result still counts
    }
  }
  return result;
}

/**
 * Until `settles` settles or `ms` passed. The timer is cleared: one left
 * pending would keep the process alive up to `ms` after the result came.
 */
export async function pause(settles: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([settles.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A started run whose outcome the light client does not read: the SDK's handle on it, settled as runOperation does. */
async function settleThroughSdk<R>(
  settings: TemporalSettings,
  opts: RunOptions<R>,
  render: (result: R) => string,
  run: { workflowId: string; firstExecutionRunId: string },
  watching: boolean,
  onProgress: (p: Progress) => void,
): Promise<void> {
  await withSdkClient(settings, async (client) => {
    const handle = client.workflow.getHandle(run.workflowId, undefined, { firstExecutionRunId: run.firstExecutionRunId });
    let last: Progress | undefined;
    await settleOperation({ ...run, query: (q: typeof progressQuery) => handle.query(q) }, opts, render, {
      outcome: async () => {
        if (watching) {
          // The run closed: its last progress, as follow()'s last query.
          const progress = await handle.query(progressQuery).catch(() => undefined);
          if (progress) {
            last = progress;
            onProgress(progress);
          }
        }
        return (await handle.result()) as R;
      },
      last: () => last,
    });
  });
}
