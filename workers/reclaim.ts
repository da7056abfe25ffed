/**
 * A worker that starts on a host where an earlier worker died (SIGKILL, OOM,
 * a crash, a container restart) takes back what the dead one held, instead
 * of waiting for Temporal to notice:
 *
 * - an activity attempt the dead worker had started is failed by ID at once
 *   (retryable, type WorkerLost), so its retry is scheduled now rather than
 *   after the heartbeat timeout; activities are idempotent, so the retry
 *   finishes what the dead attempt began;
 * - the workflow's sticky task queue is reset, so its next workflow task
 *   goes to the shared queue instead of timing out on the dead worker's.
 *
 * "Dead" is decided on this host only, never guessed: a worker's identity
 * names its host, PID and the kernel's start time of that PID
 * (/proc/<pid>/stat), so a PID reused by another process, or the PID 1 of a
 * restarted container, is not mistaken for the old worker. Identities from
 * other hosts, other formats, or a live process are left to the heartbeat
 * timeout, as before.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { NativeConnection } from '@temporalio/worker';
import { RetryableFailure } from '../src/errors';

const PREFIX = 'dockflow-worker';

export interface ParsedIdentity {
  host: string;
  pid: number;
  /** The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); "?" when unknown. */
  started: string;
}

/** Start time of a process in clock ticks since boot, or undefined when it does not exist (or this is not Linux). */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** This process's worker identity: `dockflow-worker/<host>/<pid>/<start ticks>`. */
export function workerIdentity(pid = process.pid, host = os.hostname()): string {
  return `${PREFIX}/${host}/${pid}/${processStartTicks(pid) ?? '?'}`;
}

export function parseIdentity(identity: string): ParsedIdentity | undefined {
  const parts = identity.split('/');
  if (parts.length !== 4 || parts[0] !== PREFIX) return undefined;
  const pid = Number(parts[2]);
  if (!Number.isInteger(pid) || pid <= 0 || parts[1] === '') return undefined;
  return { host: parts[1], pid, started: parts[3] };
}

/**
 * Is `identity` a worker of this host that no longer runs? True only when it
 * is ours by name, its start time was known, and that PID is gone or now
 * belongs to a process started at another time.
 */
export function isDeadWorkerOfThisHost(identity: string, me: string, startTicksOf: (pid: number) => string | undefined = processStartTicks): boolean {
  if (identity === me) return false;
  const them = parseIdentity(identity);
  const self = parseIdentity(me);
  if (!them || !self || them.host !== self.host || them.started === '?') return false;
  return startTicksOf(them.pid) !== them.started;
}

export interface ReclaimOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  identity: string;
  log?: (line: string) => void;
  /** At most this many running workflows are described (default RECLAIM_LIMITS.maxWorkflows). */
  maxWorkflows?: number;
  /** Give up after this long (default RECLAIM_LIMITS.timeLimitMs): what is left waits for the heartbeat timeout. */
  timeLimitMs?: number;
  /** Workflows described at once (default RECLAIM_LIMITS.concurrency). */
  concurrency?: number;
}

/**
 * The take-back runs while a worker starts: bounded so that a namespace with
 * thousands of running workflows on this queue (host registrations, long
 * waits) neither delays the start nor floods the server with describes.
 * Whatever is beyond the bound is not lost: Temporal retries it after its
 * heartbeat timeout, as it would without the take-back.
 */
export const RECLAIM_LIMITS = { maxWorkflows: 500, timeLimitMs: 10_000, concurrency: 8, pageSize: 100 } as const;

export interface Reclaimed {
  workflowId: string;
  activityId: string;
  activityType: string;
  deadWorker: string;
}

export interface ReclaimReport {
  reclaimed: Reclaimed[];
  /** Running workflows of the task queue described. */
  examined: number;
  /** Set when a bound stopped the scan before the last page: what was left unexamined is retried after its heartbeat timeout. */
  stoppedBy?: 'maxWorkflows' | 'timeLimit';
}

const escapeQueryString = (value: string) => value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

/** Fail the started activities of dead workers of this host on `taskQueue`'s running workflows, and reset their sticky queues; bounded (RECLAIM_LIMITS). */
export async function reclaimFromDeadWorkers(options: ReclaimOptions): Promise<ReclaimReport> {
  const { connection, namespace, taskQueue, identity } = options;
  const maxWorkflows = options.maxWorkflows ?? RECLAIM_LIMITS.maxWorkflows;
  const concurrency = Math.max(1, options.concurrency ?? RECLAIM_LIMITS.concurrency);
  const deadline = Date.now() + (options.timeLimitMs ?? RECLAIM_LIMITS.timeLimitMs);
  const service = connection.workflowService;
  // Every call carries the scan's deadline: a server slow to answer cannot hold the worker's start past it.
  const call = <T>(fn: () => Promise<T>) => connection.withDeadline(deadline, fn);
  const report: ReclaimReport = { reclaimed: [], examined: 0 };
  const query = `ExecutionStatus = 'Running' AND TaskQueue = '${escapeQueryString(taskQueue)}'`;

  const reclaimWorkflow = async (workflowId: string, runId: string): Promise<void> => {
    let description: Awaited<ReturnType<typeof service.describeWorkflowExecution>>;
    try {
      description = await call(() => service.describeWorkflowExecution({ namespace, execution: { workflowId, runId } }));
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      // Closed (or gone) since it was listed: nothing of it to take back.
      options.log?.(`dockflow worker: could not describe ${workflowId}: ${(err as Error).message}`);
      return;
    }
    let touched = false;
    for (const pending of description.pendingActivities ?? []) {
      const worker = pending.lastWorkerIdentity ?? '';
      // STARTED (2): an attempt some worker holds; only a dead worker of ours is failed.
      if (Number(pending.state) !== 2 || !pending.activityId || !isDeadWorkerOfThisHost(worker, identity)) continue;
      try {
        await call(() =>
          service.respondActivityTaskFailedById({
            namespace,
            workflowId,
            runId,
            activityId: pending.activityId!,
            identity,
            failure: {
              message: `the worker running this attempt (${worker}) is gone; ${identity} took it back`,
              applicationFailureInfo: { type: RetryableFailure.workerLost, nonRetryable: false },
            },
          }),
        );
        touched = true;
        report.reclaimed.push({ workflowId, activityId: pending.activityId, activityType: pending.activityType?.name ?? '?', deadWorker: worker });
      } catch (err) {
        // The attempt ended or timed out meanwhile: nothing left to take back.
        options.log?.(`dockflow worker: could not take back activity ${pending.activityId} of ${workflowId}: ${(err as Error).message}`);
      }
    }
    if (touched) await call(() => service.resetStickyTaskQueue({ namespace, execution: { workflowId, runId } })).catch(() => undefined);
  };

  let nextPageToken: Uint8Array | undefined;
  try {
    do {
      if (report.examined >= maxWorkflows) {
        report.stoppedBy = 'maxWorkflows';
        break;
      }
      const page = await call(() =>
        service.listWorkflowExecutions({
          namespace,
          query,
          pageSize: Math.min(RECLAIM_LIMITS.pageSize, maxWorkflows - report.examined),
          ...(nextPageToken?.length ? { nextPageToken } : {}),
        }),
      );
      const executions = (page.executions ?? [])
        .map((e) => ({ workflowId: e.execution?.workflowId, runId: e.execution?.runId }))
        .filter((e): e is { workflowId: string; runId: string } => Boolean(e.workflowId && e.runId))
        .slice(0, maxWorkflows - report.examined);
      for (let i = 0; i < executions.length; i += concurrency) {
        const batch = executions.slice(i, i + concurrency);
        await Promise.all(batch.map((e) => reclaimWorkflow(e.workflowId, e.runId)));
        report.examined += batch.length;
      }
      nextPageToken = page.nextPageToken ?? undefined;
      // A server may hand out a full page with a token to an empty next one: the count bound ends it either way.
      if (nextPageToken?.length && report.examined >= maxWorkflows) report.stoppedBy = 'maxWorkflows';
    } while (nextPageToken && nextPageToken.length > 0 && !report.stoppedBy);
  } catch (err) {
    if (Date.now() < deadline) throw err;
    report.stoppedBy = 'timeLimit';
  }
  return report;
}
