import type Docker from 'dockerode';
import { createComposeActivities } from './compose';
import { createDockerActivities } from './docker';

export interface ActivityDeps {
  docker: Docker;
  /** Environment used to interpolate compose files loaded on the worker. Default process.env. */
  env?: Record<string, string | undefined>;
  pollIntervalMs?: number;
}

/** Every activity the dockflow worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createComposeActivities(deps.env),
    ...createDockerActivities({ docker: deps.docker, pollIntervalMs: deps.pollIntervalMs }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
