/**
 * Where a data operation's steps go: the Docker, ledger and wait activities
 * of workflows/apply.ts plus the long archive streams and the hooks of
 * backups. A single-host operation uses LOCAL_DATA, the same proxies it
 * always used (no task queue in the command, so its histories replay); an
 * operation across hosts sends each host's steps to that host's queue
 * (`<queue>@<host>`), where a step its worker does not take within the
 * silence bound fails with HostSilent naming the host.
 */
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { LIVENESS_TIMEOUT, LOCAL, naming, retry, routeTo, type Route } from './apply';

/**
 * Streaming archives out of and into Docker, and reading them back: as long
 * as the data is big. Every activity heartbeats each second, so a dead
 * worker's attempt is retried elsewhere within about 5 s; each attempt starts over
 * from its deterministic names (or reuses a finished archive).
 */
const ARCHIVE_OPTIONS: ActivityOptions = {
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '12h',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 5 },
};

/** Hooks enforce their own timeout (x-dockflow ... timeout); attempts only cover a worker crash, and hooks must be safe to repeat. */
const HOOK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '6h',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 3 },
};

export interface DataRoute extends Route {
  archives: Route['docker'];
  hooks: Route['docker'];
  /** The host's name; undefined on a single host (step titles then stay as they were). */
  name?: string;
}

export const archives = proxyActivities<Activities>(ARCHIVE_OPTIONS);
export const hooks = proxyActivities<Activities>(HOOK_OPTIONS);

/** The workflow's own task queue, as every single-host data operation always used. */
export const LOCAL_DATA: DataRoute = { ...LOCAL, archives, hooks };

const dataRoutes = new Map<string, DataRoute>();

/** One host's data route: its queue, and how long its worker may leave a step untaken. */
export function dataRouteTo(taskQueue: string, host: string, silenceSeconds: number): DataRoute {
  const key = `${taskQueue} ${silenceSeconds}`;
  let route = dataRoutes.get(key);
  if (!route) {
    const scheduleToStartTimeout = silenceSeconds * 1000;
    route = {
      ...routeTo(taskQueue, host, silenceSeconds),
      archives: naming(proxyActivities<Activities>({ ...ARCHIVE_OPTIONS, taskQueue, scheduleToStartTimeout }), host, silenceSeconds),
      hooks: naming(proxyActivities<Activities>({ ...HOOK_OPTIONS, taskQueue, scheduleToStartTimeout }), host, silenceSeconds),
      name: host,
    };
    dataRoutes.set(key, route);
  }
  return route;
}
