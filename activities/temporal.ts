/**
 * Activities that ask Temporal itself: the workflow sandbox cannot describe
 * or query another workflow.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import type { LockHolder } from '../src/model/lock';
import type { HostInfo } from '../src/model/hosts';
import { lastPoll, registeredHosts } from '../src/client/host-registrations';
import { hostRegistrationId } from '../src/model/hosts';

export interface TemporalActivityDeps {
  /** Connects lazily, on the first call that needs it. */
  client: () => Promise<WorkflowClient>;
  /** How long hostsLastSeen asks again for a registered host with no poll listed (default UNLISTED_POLL_GRACE_MS). */
  unlistedPollGraceMs?: number;
}

/**
 * How long a registered host with no poll listed is asked again. A worker
 * whose server went away retries its poll with a backoff that stays under
 * 10 s; past that the host is taken as down.
 */
export const UNLISTED_POLL_GRACE_MS = 12_000;
const UNLISTED_POLL_RETRY_MS = 1_000;

/** When the host's registration started, when it is running. */
async function registrationStart(c: WorkflowClient, name: string): Promise<string | undefined> {
  try {
    const description = await c.getHandle(hostRegistrationId(name)).describe();
    return description.status.name === 'RUNNING' ? description.startTime.toISOString() : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** A pause that ends early when the activity is cancelled (outside an activity, a plain timer). */
async function pauseFor(ms: number): Promise<void> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    context = undefined;
  }
  if (context) await context.sleep(ms);
  else await new Promise((r) => setTimeout(r, ms));
}

export function createTemporalActivities({ client, unlistedPollGraceMs = UNLISTED_POLL_GRACE_MS }: TemporalActivityDeps) {
  return {
    /** Who holds a project's lock right now, or undefined when nobody does. */
    async describeLock(project: string): Promise<LockHolder | undefined> {
      const handle = (await client()).getHandle(`dockflow-lock-${project}`);
      try {
        const description = await handle.describe();
        if (description.status.name !== 'RUNNING') return undefined;
        return await handle.query<LockHolder>('holder');
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },

    /** The hosts registered now, by name, as the CLI sends them to an operation (none: a single-host setup). */
    async registeredHosts(): Promise<HostInfo[]> {
      return (await registeredHosts(await client())).map(({ name, labels }) => ({ name, labels }));
    },

    /**
     * When each host's worker last polled its own queue (Temporal's clock; a
     * live worker always has a poll started within Temporal's long-poll
     * interval) and when its registration started (a worker registers as it
     * starts polling). Absent: Temporal lists no poller (none yet, or none
     * for about 5 minutes), or no running registration.
     *
     * Temporal forgets every poller when it restarts, and a live worker
     * polls again within seconds: a registered host with no poll listed is
     * asked again every second for up to `unlistedPollGraceMs`, so a restart
     * does not read as hosts down. A host down for longer costs that wait
     * once per operation, instead of the silence bound on each of its steps.
     */
    async hostsLastSeen(hosts: { name: string; taskQueue: string }[]): Promise<Record<string, { lastPoll?: string; registeredAt?: string }>> {
      const c = await client();
      const registered = await Promise.all(hosts.map(({ name }) => registrationStart(c, name)));
      const polls = await Promise.all(hosts.map(({ taskQueue }) => lastPoll(c, taskQueue)));
      const deadline = Date.now() + unlistedPollGraceMs;
      const unlisted = () => hosts.flatMap((h, i) => (registered[i] && !polls[i] ? [i] : []));
      while (unlisted().length > 0 && Date.now() < deadline) {
        await pauseFor(Math.min(UNLISTED_POLL_RETRY_MS, Math.max(0, deadline - Date.now())));
        await Promise.all(unlisted().map(async (i) => (polls[i] = await lastPoll(c, hosts[i].taskQueue))));
      }
      return Object.fromEntries(hosts.map(({ name }, i) => [name, { ...(polls[i] ? { lastPoll: polls[i] } : {}), ...(registered[i] ? { registeredAt: registered[i] } : {}) }]));
    },
  };
}
