/**
 * What the host holds for a project, found by labels only: its containers
 * (health and exit codes from inspect), networks and volumes. Read-only. The
 * observe activity (activities/docker/observation.ts) and the CLI's `ps`
 * both read the host through this.
 */
import type Docker from 'dockerode';
import type { ObservedContainer, ObservedProject } from '../model/observed';
import { isStartedByCompose, Label } from '../model/labels';
import { inspectOrUndefined, listProjectContainers, type DockerReads } from './reads';

export function toObserved(c: Docker.ContainerInfo, inspect?: Docker.ContainerInspectInfo): ObservedContainer {
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

/** The project's containers (sorted by name), networks and volumes, found by labels only. */
export async function observeProject(docker: DockerReads, project: string): Promise<ObservedProject> {
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
  };
}

