/**
 * Which registered hosts are known to be down before an operation across
 * hosts starts, so one dead machine does not hold every deploy until the
 * silence bound (`--host-timeout`): a deploy that does not need it goes on
 * without asking it, one that needs it fails at once naming it, before the
 * lock and before anything is touched (hosts.ts).
 *
 * "Known down" is read from Temporal, not guessed: a live worker always has a
 * poll of its host's queue in flight, started at most one long poll ago
 * (Temporal's long poll lasts about 60 s; a poll's start is what Temporal
 * records). So a host whose newest poll started longer ago than both the
 * silence bound and LONG_POLL_SECONDS has not answered for longer than the
 * bound. A host that goes silent later, during the operation, is still
 * caught by the bound on each of its steps (routes.ts, HostSilent), and the
 * others go back as before.
 *
 * deploy and update ask under HOST_LIVENESS_PATCH; rollback, down, backup,
 * restore and migrate (and rollback --with-data, scheduled backups) under
 * HOST_LIVENESS_EVERY_OPERATION_PATCH. What a host that is down means to
 * each (docs/workflow-changes.md, README "Several hosts"):
 *   - deploy, update: left out when the stack does not need it; else the
 *     operation fails at once naming it, before the lock (hosts.ts).
 *   - rollback (images): the hosts that answer go back; the result names the
 *     hosts it could not reach (host-rollback.ts), as for a silent host.
 *   - rollback --with-data: refused before anything is touched.
 *   - down: removes what it reaches and says which host still runs the stack.
 *   - backup, restore, migrate: refused before anything is touched when a
 *     data set (or the migrated service) is on it; else it is left out
 *     (data-hosts.ts).
 * A run recorded before its patch never asks, and replays exactly as it ran.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { hostTaskQueue } from '../src/model/hosts';
import { OperationFailure } from '../src/errors';
import { isPatched } from './patches';
import type { ProgressTracker } from './progress';
import { host } from './routes';

/** patched() ID of the liveness look-up (docs/workflow-changes.md). */
export const HOST_LIVENESS_PATCH = 'dockflow-host-liveness';

/** patched() ID of the same look-up in rollback, down, backup, restore and migrate across hosts. */
export const HOST_LIVENESS_EVERY_OPERATION_PATCH = 'dockflow-host-liveness-every-operation';

/** A host that is down, left out of an operation that does not need it: the warning the result carries. */
export function leftOut(down: DownHost): string {
  return `host ${down.name} is down (${down.lastPoll ? `last polled ${down.silentSeconds} s ago` : 'no poll listed'}): left out; the next operation that reaches it converges it`;
}

/** How old a live worker's newest poll can be: Temporal's long poll (about 60 s) and some slack. */
export const LONG_POLL_SECONDS = 75;

export interface DownHost {
  name: string;
  /** Seconds since Temporal last saw its worker poll (or since it registered, when no poll is listed). */
  silentSeconds: number;
  /** ISO time of that poll; absent when Temporal lists none. */
  lastPoll?: string;
}

/**
 * The registered hosts known to be down now, by name (none in a run recorded
 * before HOST_LIVENESS_PATCH). A host never registered, or whose worker
 * started within the threshold, is not known down.
 */
export async function downHosts(hosts: string[], silenceSeconds: number, progress: ProgressTracker, patch = HOST_LIVENESS_PATCH): Promise<Map<string, DownHost>> {
  const down = new Map<string, DownHost>();
  if (hosts.length === 0 || !isPatched(patch)) return down;
  const shared = workflowInfo().taskQueue;
  let seen: Record<string, { lastPoll?: string; registeredAt?: string }>;
  try {
    seen = await progress.step('look up when each host last answered', () => host.hostsLastSeen(hosts.map((name) => ({ name, taskQueue: hostTaskQueue(shared, name) }))));
  } catch {
    // Not known (e.g. a worker of an earlier release took the step, without this activity): every host is asked, each within the bound, as before.
    return down;
  }
  // Workflow time is the server's, as the poll times are: no clock skew between them.
  const now = Date.now();
  const threshold = Math.max(silenceSeconds, LONG_POLL_SECONDS);
  for (const name of hosts) {
    const { lastPoll, registeredAt } = seen[name] ?? {};
    const since = lastPoll ?? registeredAt;
    if (since === undefined) continue;
    const silentSeconds = Math.floor((now - Date.parse(since)) / 1000);
    if (silentSeconds > threshold) down.set(name, { name, silentSeconds, ...(lastPoll ? { lastPoll } : {}) });
  }
  return down;
}

/** "its worker last polled 80 s ago": how long a host that is down has been silent. */
export function silentFor(down: DownHost): string {
  return down.lastPoll ? `its worker last polled ${down.silentSeconds} s ago` : `Temporal lists no poll of its worker (registered ${down.silentSeconds} s ago)`;
}

/**
 * Why each of `hosts` was not reached: "host-2 is down (its worker last
 * polled 80 s ago)" for one known down before the operation, "host-3 did not
 * answer within 60 s" for one that went silent during it.
 */
export function notAnswering(hosts: string[], down: ReadonlyMap<string, DownHost>, seconds: number): string {
  const known = hosts.filter((h) => down.has(h));
  const silent = hosts.filter((h) => !down.has(h));
  return [
    ...known.map((h) => `${h} is down (${silentFor(down.get(h)!)})`),
    ...(silent.length ? [`${silent.join(', ')} did not answer within ${seconds} s`] : []),
  ].join('; ') + ` (is "dockflow worker --host <name>" running on ${hosts.length === 1 ? 'it' : 'each'}?)`;
}

/** Why a host that is down cannot be left out: a non-retryable failure naming it, raised before anything is touched. */
export function needsDownHost(project: string, down: DownHost, why: string): ApplicationFailure {
  const seen = down.lastPoll ? `${silentFor(down)} (${down.lastPoll})` : silentFor(down);
  return ApplicationFailure.nonRetryable(
    `project ${project}: host ${down.name} is down: ${seen}; ${why}. Nothing was changed. Start "dockflow worker --host ${down.name}", or place the services elsewhere`,
    OperationFailure.hostSilent,
  );
}
