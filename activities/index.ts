import type Docker from 'dockerode';
import { createComposeActivities } from './compose';
import { createDockerActivities } from './docker';
import { createLedgerActivities } from './ledger';

export interface ActivityDeps {
  docker: Docker;
  /** Environment used to interpolate compose files loaded on the worker. Default process.env. */
  env?: Record<string, string | undefined>;
  pollIntervalMs?: number;
  /** Where the revision ledger lives; default DOCKFLOW_STATE_DIR or /var/lib/dockflow. */
  stateDir?: string;
}

/** Every activity the dockflow worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createComposeActivities(deps.env),
    ...createDockerActivities({ docker: deps.docker, pollIntervalMs: deps.pollIntervalMs }),
    ...createLedgerActivities({ docker: deps.docker, stateDir: deps.stateDir }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
