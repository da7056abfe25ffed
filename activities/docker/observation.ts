/**
 * Observation: what the host holds for a project, found by labels only
 * (read-only).
 */
import type Docker from 'dockerode';
import type { StackSpec } from '../../src/model/spec';
import type { ObservedProject } from '../../src/model/observed';
import { hostDifferences, type HostDifference } from '../../src/plan/verify';
import type { ResourceClaims } from '../../src/plan/ownership';
import { findForeignResources } from '../ownership';
import { observeProject as observeProjectResources } from '../../src/engine/observe';

/** observeProject of src/engine/observe.ts; with `claims`, also the claimed names that exist but are not the project's (never touched). */
export async function observeProject(docker: Docker, project: string, claims?: ResourceClaims): Promise<ObservedProject> {
  return {
    ...(await observeProjectResources(docker, project)),
    ...(claims ? { foreign: await findForeignResources(docker, project, claims) } : {}),
  };
}

export function createObservationActivities({ docker }: { docker: Docker }) {
  return {
    /**
     * The project's containers, networks and volumes, found by labels only;
     * with `claims`, also the claimed names that exist but are not the project's.
     */
    async observeProject(project: string, claims?: ResourceClaims): Promise<ObservedProject> {
      return observeProject(docker, project, claims);
    },

    /**
     * Compare the host with what an operation is about to report and record
     * (src/plan/verify.ts): an empty list when every service has its replicas
     * with the desired config hashes and image IDs. Read-only.
     */
    async verifyProject(input: { spec: StackSpec; imageIds: Record<string, string> }): Promise<HostDifference[]> {
      return hostDifferences(input.spec, input.imageIds, await observeProject(docker, input.spec.project));
    },
  };
}
