/**
 * Activities that ask Temporal itself: the workflow sandbox cannot describe
 * or query another workflow.
 */
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import type { LockHolder } from '../src/model/lock';

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
  };
}
