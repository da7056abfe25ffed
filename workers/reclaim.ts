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
}

export interface Reclaimed {
  workflowId: string;
  activityId: string;
  activityType: string;
  deadWorker: string;
}

/** Fail the started activities of dead workers of this host on `taskQueue`'s running workflows, and reset their sticky queues. */
export async function reclaimFromDeadWorkers(options: ReclaimOptions): Promise<Reclaimed[]> {
  const { connection, namespace, taskQueue, identity } = options;
  const service = connection.workflowService;
  const reclaimed: Reclaimed[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await service.listWorkflowExecutions({
      namespace,
      query: `ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue.replace(/'/g, "\\'")}'`,
      pageSize: 200,
      ...(nextPageToken?.length ? { nextPageToken } : {}),
    });
    for (const execution of page.executions ?? []) {
      const workflowId = execution.execution?.workflowId;
      const runId = execution.execution?.runId;
      if (!workflowId || !runId) continue;
      const description = await service.describeWorkflowExecution({ namespace, execution: { workflowId, runId } });
      let touched = false;
      for (const pending of description.pendingActivities ?? []) {
        const worker = pending.lastWorkerIdentity ?? '';
        // STARTED (2): an attempt some worker holds; only a dead worker of ours is failed.
        if (Number(pending.state) !== 2 || !pending.activityId || !isDeadWorkerOfThisHost(worker, identity)) continue;
        try {
          await service.respondActivityTaskFailedById({
            namespace,
            workflowId,
            runId,
            activityId: pending.activityId,
            identity,
            failure: {
              message: `the worker running this attempt (${worker}) is gone; ${identity} took it back`,
              applicationFailureInfo: { type: RetryableFailure.workerLost, nonRetryable: false },
            },
          });
          touched = true;
          reclaimed.push({ workflowId, activityId: pending.activityId, activityType: pending.activityType?.name ?? '?', deadWorker: worker });
        } catch (err) {
          // The attempt ended or timed out meanwhile: nothing left to take back.
          options.log?.(`dockflow worker: could not take back activity ${pending.activityId} of ${workflowId}: ${(err as Error).message}`);
        }
      }
      if (touched) {
        await service.resetStickyTaskQueue({ namespace, execution: { workflowId, runId } }).catch(() => undefined);
      }
    }
    nextPageToken = page.nextPageToken ?? undefined;
  } while (nextPageToken && nextPageToken.length > 0);
  return reclaimed;
}
