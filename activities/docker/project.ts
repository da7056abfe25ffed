/**
 * A project's own networks and volumes: created before its containers
 * (external ones only checked), and removed with them by `down`.
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import type { StackSpec } from '../../src/model/spec';
import { Label, MANAGED_BY } from '../../src/model/labels';
import { networkIpam, volumeCreateOptions, type ContainerMount } from '../../src/docker/container-config';
import { ErrorType } from '../../src/errors';
import { anonymousVolumesOf, removeAnonymousVolumes } from '../anonymous-volumes';
import { listProjectContainers, statusOf } from './shared';
import { removeById } from './container-ops';

export function createProjectActivities({ docker }: { docker: Docker }) {
  return {
    /**
     * Check every external network and volume first, then create the missing
     * project ones, so a missing external resource fails before anything exists.
     */
    async ensureNetworksAndVolumes(spec: StackSpec): Promise<{ created: string[] }> {
      const missing: string[] = [];
      for (const [key, n] of Object.entries(spec.networks)) {
        if (!n.external) continue;
        const found = await docker.listNetworks({ filters: { name: [n.name] } });
        if (!found.some((f) => f.Name === n.name)) missing.push(`network ${n.name} (networks.${key}, external: true)`);
      }
      for (const [key, v] of Object.entries(spec.volumes)) {
        if (!v.external) continue;
        try {
          await docker.getVolume(v.name).inspect();
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          missing.push(`volume ${v.name} (volumes.${key}, external: true)`);
        }
      }
      if (missing.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `project ${spec.project}: external resources do not exist: ${missing.join('; ')}. Create them first (e.g. docker network create NAME); nothing was changed.`,
          ErrorType.missingExternal,
        );
      }
      const created: string[] = [];
      for (const key of Object.keys(spec.networks).sort()) {
        const n = spec.networks[key];
        if (n.external) continue;
        const found = await docker.listNetworks({ filters: { name: [n.name] } });
        if (found.some((f) => f.Name === n.name)) continue;
        try {
          await docker.createNetwork({
            Name: n.name,
            CheckDuplicate: true,
            Driver: n.driver ?? 'bridge',
            Options: n.driverOpts,
            Internal: n.internal,
            ...(n.attachable !== undefined ? { Attachable: n.attachable } : {}),
            ...(n.enableIpv6 !== undefined ? { EnableIPv6: n.enableIpv6 } : {}),
            ...(n.ipam ? { IPAM: networkIpam(n.ipam) } : {}),
            Labels: { ...n.labels, [Label.project]: spec.project, [Label.network]: key, [Label.managedBy]: MANAGED_BY },
          });
          created.push(`network:${n.name}`);
        } catch (err) {
          if (statusOf(err) === 409) continue;
          if (/non-overlapping IPv4 address pool/.test(String((err as Error).message))) {
            // Not transient: only removing networks or configuring the daemon frees a pool.
            const existing = (await docker.listNetworks()).length;
            throw ApplicationFailure.nonRetryable(
              `network ${n.name} (networks.${key}): the Docker engine has no free address pool left (${existing} networks exist; its default pools hold about 30 bridge networks). Remove unused networks (docker network prune) or give the engine more pools with "default-address-pools" in /etc/docker/daemon.json`,
              ErrorType.dockerRejected,
            );
          }
          throw err;
        }
      }
      for (const key of Object.keys(spec.volumes).sort()) {
        const v = spec.volumes[key];
        if (v.external) continue;
        try {
          await docker.getVolume(v.name).inspect();
          continue;
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
        // Creating a volume that exists is a no-op in Docker, so a retry is harmless.
        await docker.createVolume(volumeCreateOptions(spec, key));
        created.push(`volume:${v.name}`);
      }
      return { created };
    },

    /**
     * Remove a project's containers (and networks; volumes when asked), found
     * by labels. With volumes, as compose's `down -v`: the project's named
     * volumes and the anonymous volumes of its containers, including those
     * carried over from earlier containers.
     */
    async downProject(input: { project: string; volumes: boolean }): Promise<{ removed: string[] }> {
      const removed: string[] = [];
      const anonymous = new Set<string>();
      for (const c of await listProjectContainers(docker, input.project)) {
        for (const v of anonymousVolumesOf(c as { Mounts?: ContainerMount[] })) anonymous.add(v);
        await removeById(docker, c.Id);
        removed.push(`container:${(c.Names?.[0] ?? c.Id).replace(/^\//, '')}`);
      }
      for (const n of await docker.listNetworks({ filters: { label: [`${Label.project}=${input.project}`] } })) {
        try {
          await docker.getNetwork(n.Id).remove();
          removed.push(`network:${n.Name}`);
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
      }
      if (input.volumes) {
        const vols = await docker.listVolumes({ filters: { label: [`${Label.project}=${input.project}`] } });
        for (const v of vols.Volumes ?? []) {
          try {
            await docker.getVolume(v.Name).remove();
            removed.push(`volume:${v.Name}`);
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
        }
        for (const v of await removeAnonymousVolumes(docker, [...anonymous].sort())) removed.push(`volume:${v}`);
      }
      return { removed };
    },
  };
}
