/**
 * Containers wedged by a Docker daemon restart. A start that the daemon's
 * shutdown interrupts can leave a task record behind in containerd that the
 * restarted daemon can neither reuse nor clear: every later start of that
 * container fails with "task <id>: already exists" (HTTP 500), forever. The
 * only way out through the Engine API is a new container with the same
 * configuration. This is found by the chaos harness's dockerd restarts.
 */
import type Docker from 'dockerode';
import { bindTargets, bindsKeepingVolumes, type ContainerMount } from '../src/docker/container-config';

export function isWedged(err: unknown): boolean {
  return /task [0-9a-f]+: already exists/i.test(String((err as Error | undefined)?.message ?? err));
}

/**
 * Replace a wedged container with an identical one (same name, config,
 * labels, host config, networks with their aliases, and volumes) and start
 * it. The anonymous volumes the wedged container mounted (image `VOLUME`s,
 * anonymous entries) are mounted by name in the copy, so their data stays
 * with the service. Returns the new container's ID.
 */
export async function recreateWedged(docker: Docker, id: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  const name = info.Name.replace(/^\//, '');
  const shortId = info.Id.slice(0, 12);
  const networks = Object.entries(info.NetworkSettings.Networks ?? {});
  const endpoint = (ep: Docker.NetworkInfo) => ({
    // Docker adds the container's short ID as an alias on its own; the new one gets its own.
    Aliases: (ep.Aliases ?? []).filter((a: string) => a !== shortId),
    ...(ep.IPAMConfig ? { IPAMConfig: ep.IPAMConfig } : {}),
    ...(ep.Links ? { Links: ep.Links } : {}),
  });
  const binds = info.HostConfig.Binds ?? [];
  const mountTargets = ((info.HostConfig as { Mounts?: { Target?: string }[] }).Mounts ?? []).map((m) => m.Target ?? '');
  const keptVolumes = bindsKeepingVolumes([...bindTargets(binds), ...mountTargets], info.Mounts as ContainerMount[]);
  const config: Docker.ContainerCreateOptions = { ...info.Config, name, HostConfig: { ...info.HostConfig, Binds: [...binds, ...keptVolumes] } };
  // The hostname Docker chose was the old ID; an explicit one (compose hostname:) is kept.
  if (config.Hostname === shortId) delete config.Hostname;
  // API 1.41 attaches one network at create; the others are connected before the start.
  const [first, ...rest] = networks;
  if (first) config.NetworkingConfig = { EndpointsConfig: { [first[0]]: endpoint(first[1]) } };
  await docker.getContainer(id).remove({ force: true });
  const created = await docker.createContainer(config);
  for (const [network, ep] of rest) await docker.getNetwork(network).connect({ Container: created.id, EndpointConfig: endpoint(ep) });
  await created.start();
  return created.id;
}
