/**
 * Activities that ask Temporal itself: the workflow sandbox cannot describe
 * or query another workflow.
 */
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import type { LockHolder } from '../src/model/lock';
import type { HostInfo } from '../src/model/hosts';
import { registeredHosts } from '../src/client/host-registrations';

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
  };
}
