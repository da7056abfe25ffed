/**
 * Where a workflow's activities go and with which bounds: the proxies by
 * timeout class (Docker calls, images, waits, host files), one host's route
 * (its task queue, with HostSilent when its worker takes no step), and the
 * local-activity twins of the short steps on the workflow's own queue.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { StackSpec } from '../src/model/spec';
import type { DeployPlan } from '../src/plan/deploy-plan';
import { NON_RETRYABLE_TYPES, OperationFailure } from '../src/errors';
import { quick } from './round-trips';

export const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_TYPES };

/**
 * Every activity heartbeats once a second while it runs (activities/index.ts)
 * and the worker sends at most one heartbeat a second (workers/worker.ts), so
 * the server hears from a live attempt every second or so. A dead worker's
 * step is retried 3–4 s after its last heartbeat (plus the 1 s first retry
 * interval); three missed heartbeats in a row are needed for a false alarm.
 */
export const LIVENESS_TIMEOUT = '4s';

/**
 * On cancellation the workflow waits for a running Docker step to stop (it
 * learns of the cancellation through its heartbeat) before compensating, so
 * the undo never races the step it undoes.
 */
const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

/** Docker calls: bounded by their own work; retried with backoff on transient errors. */
export const docker = proxyActivities<Activities>({
  cancellationType,
  startToCloseTimeout: '10m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 10 },
});

/** Builds and pulls can take long; a few attempts, since "not found" is not retried at all. */
export const images = proxyActivities<Activities>({
  cancellationType,
  startToCloseTimeout: '60m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 3 },
});

/** Health and completion waits carry their own deadline (waitBudgetMs); retries only cover crashes and Docker hiccups. */
export const waits = proxyActivities<Activities>({
  cancellationType,
  startToCloseTimeout: '2h',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 20 },
});

/** Local file reads and writes on the worker host (compose files, the ledger). */
export const host = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 5 },
});

/** The activities of one Docker host, each kind with its own timeouts. */
export interface Route {
  docker: typeof docker;
  images: typeof images;
  waits: typeof waits;
  host: typeof host;
  /** The same short steps as local activities: only on the workflow's own task queue (round-trips.ts). */
  local?: typeof quick;
}

/**
 * The workflow's own task queue: a single-host operation's activities go
 * there, as they always did (no task queue in the command).
 */
export const LOCAL: Route = { docker, images, waits, host, local: quick };

const routes = new Map<string, Route>();

/** Default bound on a host's silence: how long one of its steps may wait for its worker to take it. */
export const HOST_SILENCE_SECONDS = 60;

/**
 * A host's worker did not take a step within the bound: it is down, or cut
 * off from Temporal. Its steps would otherwise wait for it forever.
 */
export class HostSilent extends ApplicationFailure {
  constructor(
    readonly host: string,
    activity: string,
    seconds: number,
  ) {
    super(`host ${host} did not answer: its worker took no ${activity} step within ${seconds} s (is "dockflow worker --host ${host}" running?)`, OperationFailure.hostSilent, true);
  }
}

function isScheduleToStartTimeout(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

/** The proxy's activities, with a step its host's worker never took reported as HostSilent. */
export function naming<T extends object>(proxy: T, host: string, seconds: number): T {
  return new Proxy(proxy, {
    get(target, activity) {
      const call = (target as Record<string | symbol, (...args: unknown[]) => Promise<unknown>>)[activity];
      return async (...args: unknown[]) => {
        try {
          return await call(...args);
        } catch (err) {
          if (isScheduleToStartTimeout(err)) throw new HostSilent(host, String(activity), seconds);
          throw err;
        }
      };
    },
  });
}

/**
 * The same activities with the same timeouts, sent to one host's task queue
 * (`<queue>@<host>`); a step its worker does not take within
 * `silenceSeconds` fails with HostSilent.
 */
export function routeTo(taskQueue: string, host: string, silenceSeconds = HOST_SILENCE_SECONDS): Route {
  const key = `${taskQueue} ${silenceSeconds}`;
  let route = routes.get(key);
  if (!route) {
    const scheduleToStartTimeout = silenceSeconds * 1000;
    route = {
      docker: naming(proxyActivities<Activities>({ taskQueue, scheduleToStartTimeout, cancellationType, startToCloseTimeout: '10m', heartbeatTimeout: LIVENESS_TIMEOUT, retry: { ...retry, maximumAttempts: 10 } }), host, silenceSeconds),
      images: naming(proxyActivities<Activities>({ taskQueue, scheduleToStartTimeout, cancellationType, startToCloseTimeout: '60m', heartbeatTimeout: LIVENESS_TIMEOUT, retry: { ...retry, maximumAttempts: 3 } }), host, silenceSeconds),
      waits: naming(proxyActivities<Activities>({ taskQueue, scheduleToStartTimeout, cancellationType, startToCloseTimeout: '2h', heartbeatTimeout: LIVENESS_TIMEOUT, retry: { ...retry, maximumAttempts: 20 } }), host, silenceSeconds),
      host: naming(proxyActivities<Activities>({ taskQueue, scheduleToStartTimeout, startToCloseTimeout: '1m', heartbeatTimeout: LIVENESS_TIMEOUT, retry: { ...retry, maximumAttempts: 5 } }), host, silenceSeconds),
    };
    routes.set(key, route);
  }
  return route;
}

/**
 * One host's share of an operation: its part of the stack, the plan for it,
 * and where its activities go. A single-host operation is one part without
 * a host name, routed to LOCAL.
 */
export interface HostPlan {
  host?: string;
  spec: StackSpec;
  plan: DeployPlan;
  route: Route;
}

/** " on host-1" after a step's title when the step is one host's; nothing on a single host, so titles stay as they were. */
export function onHost(host: string | undefined): string {
  return host === undefined ? '' : ` on ${host}`;
}
