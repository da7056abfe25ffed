/**
 * Observation: what the host holds for a project, found by labels only
 * (read-only).
 */
import type Docker from 'dockerode';
import type { StackSpec } from '../../src/model/spec';
import type { ObservedContainer, ObservedProject } from '../../src/model/observed';
import { isStartedByCompose, Label } from '../../src/model/labels';
import { hostDifferences, type HostDifference } from '../../src/plan/verify';
import type { ResourceClaims } from '../../src/plan/ownership';
import { findForeignResources } from '../ownership';
import { inspectOrUndefined, listProjectContainers } from './shared';

function toObserved(c: Docker.ContainerInfo, inspect?: Docker.ContainerInspectInfo): ObservedContainer {
  const labels = c.Labels ?? {};
  const number = Number.parseInt(labels[Label.containerNumber] ?? '', 10);
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    service: labels[Label.service] ?? '',
    number: Number.isFinite(number) ? number : 0,
    oneoff: (labels[Label.oneoff] ?? 'False').toLowerCase() === 'true',
    configHash: labels[Label.configHash] ?? labels[Label.composeConfigHash],
    imageId: c.ImageID,
    state: c.State,
    health: inspect?.State.Health?.Status as ObservedContainer['health'],
    exitCode: inspect && !inspect.State.Running ? inspect.State.ExitCode : undefined,
    replaces: labels[Label.replaces],
    ...(isStartedByCompose(labels) ? { startedByCompose: true } : {}),
  };
}

/**
 * The project's containers, networks and volumes, found by labels only;
 * with `claims`, also the claimed names that exist but are not the
 * project's (reported in `foreign`, never touched).
 */
export async function observeProject(docker: Docker, project: string, claims?: ResourceClaims): Promise<ObservedProject> {
  const containers = await listProjectContainers(docker, project);
  // Exit codes and health are only in inspect; a container can vanish
  // meanwhile. The inspects run side by side: one after another they took
  // 0.5–1.5 s for 50 containers on a busy engine, twice per deploy.
  const observed = await Promise.all(
    containers.map(async (c) => toObserved(c, c.State === 'running' && !/health/.test(c.Status ?? '') ? undefined : await inspectOrUndefined(docker, c.Id))),
  );
  observed.sort((a, b) => a.name.localeCompare(b.name));
  const networks = await docker.listNetworks({ filters: { label: [`${Label.project}=${project}`] } });
  const volumes = await docker.listVolumes({ filters: { label: [`${Label.project}=${project}`] } });
  return {
    project,
    containers: observed,
    networks: networks
      .map((n) => ({ key: n.Labels?.[Label.network], name: n.Name, id: n.Id }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    volumes: (volumes.Volumes ?? [])
      .map((v) => ({ key: v.Labels?.[Label.volume], name: v.Name }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    ...(claims ? { foreign: await findForeignResources(docker, project, claims) } : {}),
  };
}

export function createObservationActivities({ docker }: { docker: Docker }) {
  return {
    /**
     * The project's containers, networks and volumes, found by labels only;
     * with `claims`, also the claimed names that exist but are not the project's.
     */
    observeProject: (project: string, claims?: ResourceClaims) => observeProject(docker, project, claims),

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
