import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { createComposeActivities } from './compose';
import { createDockerActivities } from './docker';
import { createLedgerActivities } from './ledger';
import { createTemporalActivities } from './temporal';
import { createBackupActivities } from './backup';
import type { WorkflowClient } from '@temporalio/client';

export interface ActivityDeps {
  docker: Docker;
  /** Environment used to interpolate compose files loaded on the worker. Default process.env. */
  env?: Record<string, string | undefined>;
  pollIntervalMs?: number;
  /** Where the revision ledger lives; default DOCKFLOW_STATE_DIR or /var/lib/dockflow. */
  stateDir?: string;
  /** A Temporal client for activities that look at other workflows (the project lock's holder). */
  temporal?: () => Promise<WorkflowClient>;
}

/** How often every running activity tells Temporal its worker is alive. */
export const LIVENESS_HEARTBEAT_MS = 1000;

/**
 * Every activity heartbeats while it runs, whatever it is doing, so a worker
 * that dies is noticed within the heartbeat timeout (seconds) instead of the
 * start-to-close timeout (minutes), and its work is retried on another worker.
 */
function withLiveness<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      let context: Context | undefined;
      try {
        context = Context.current();
      } catch {
        // Called directly (tests, the CLI's status): nothing to heartbeat to.
      }
      const timer = context ? setInterval(() => context!.heartbeat(), LIVENESS_HEARTBEAT_MS) : undefined;
      try {
        return await fn(...args);
      } finally {
        if (timer) clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}

/** Every activity the dockflow worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return withLiveness({
    ...createComposeActivities(deps.env),
    ...createDockerActivities({ docker: deps.docker, pollIntervalMs: deps.pollIntervalMs }),
    ...createLedgerActivities({ docker: deps.docker, stateDir: deps.stateDir }),
    ...createBackupActivities({ docker: deps.docker, stateDir: deps.stateDir, pollIntervalMs: deps.pollIntervalMs }),
    ...createTemporalActivities({
      client:
        deps.temporal ??
        (() => {
          throw new Error('this worker was built without a Temporal client; pass `temporal` to createActivities');
        }),
    }),
  });
}

export type Activities = ReturnType<typeof createActivities>;
