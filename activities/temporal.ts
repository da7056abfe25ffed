/**
 * Activities that ask Temporal itself: the workflow sandbox cannot describe
 * or query another workflow.
 */
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import type { LockHolder } from '../src/model/lock';
import type { HostInfo } from '../src/model/hosts';
import { lastPoll, registeredHosts } from '../src/client/host-registrations';
import { hostRegistrationId } from '../src/model/hosts';

export interface TemporalActivityDeps {
  /** Connects lazily, on the first call that needs it. */
  client: () => Promise<WorkflowClient>;
}

export function createTemporalActivities({ client }: TemporalActivityDeps) {
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
     */
    async hostsLastSeen(hosts: { name: string; taskQueue: string }[]): Promise<Record<string, { lastPoll?: string; registeredAt?: string }>> {
      const c = await client();
      const seen = await Promise.all(
        hosts.map(async ({ name, taskQueue }) => {
          const poll = await lastPoll(c, taskQueue);
          let registeredAt: string | undefined;
          try {
            const description = await c.getHandle(hostRegistrationId(name)).describe();
            if (description.status.name === 'RUNNING') registeredAt = description.startTime.toISOString();
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
          return [name, { ...(poll ? { lastPoll: poll } : {}), ...(registeredAt ? { registeredAt } : {}) }] as const;
        }),
      );
      return Object.fromEntries(seen);
    },
  };
}
