/**
 * Docker side effects for deploy and down, by resource: images, observation,
 * a project's networks and volumes, containers, rollout steps, waits. Every
 * activity is idempotent: it first finds what an earlier attempt already did
 * (containers by deterministic name and labels, networks and volumes by name)
 * and finishes or reuses it. Decisions about *what* to do belong to the
 * workflow's plan; these functions only know how to bring one resource to the
 * requested state.
 *
 * The names of the activities returned here are what the worker registers and
 * recorded histories replay by: a module move never renames one.
 */
import type Docker from 'dockerode';
import { createImageActivities } from './images';
import { createObservationActivities } from './observation';
import { createProjectActivities } from './project';
import { createContainerActivities } from './containers';
import { createWaitActivities } from './waits';
import { createRolloutActivities } from './rollout';

export type { EnsureImageInput } from './images';
export type { ContainerRef, ConvergeInput, RemoveInput } from './containers';
export type { WaitInput } from './waits';
export { demuxLogs, logTail, messageOf, statusOf } from './shared';

export interface DockerActivityDeps {
  docker: Docker;
  /** How often long waits poll Docker and heartbeat. Default 500 ms. */
  pollIntervalMs?: number;
}

export function createDockerActivities({ docker, pollIntervalMs = 500 }: DockerActivityDeps) {
  return {
    ...createImageActivities({ docker }),
    ...createObservationActivities({ docker }),
    ...createProjectActivities({ docker }),
    ...createContainerActivities({ docker }),
    ...createWaitActivities({ docker, pollIntervalMs }),
    ...createRolloutActivities({ docker }),
  };
}

export type DockerActivities = ReturnType<typeof createDockerActivities>;
