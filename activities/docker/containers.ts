/**
 * Containers: bring one slot (service, number) to its desired container,
 * restart, remove, or signal a service's containers.
 */
import type Docker from 'dockerode';
import { Label } from '../../src/model/labels';
import { containerName, replacementName } from '../../src/model/names';
import { convergeSlot, mustStart, slotLeftovers, stopTimeoutSec } from '../../src/docker/slot';
import { heartbeat, inspectOrUndefined, listProjectContainers } from './shared';
import { connectExtraNetworks, createContainer, removeById, removeWithAnonymousVolumes, startContainer, type ConvergeInput } from './container-ops';

// The input of a container step lives with the steps (container-ops.ts), which this module imports.
export type { ConvergeInput } from './container-ops';

export interface ContainerRef {
  id: string;
  name: string;
}

export interface RemoveInput {
  name: string;
  id?: string;
  stopTimeoutSec?: number;
  /** Also remove the container's anonymous volumes that no other container mounts. Default false. */
  anonymousVolumes?: boolean;
}

export function createContainerActivities({ docker }: { docker: Docker }) {
  return {
    /**
     * Bring one container slot (service, number) to: a container with the
     * canonical name and the desired config hash, started. On recreate the
     * replacement exists before the old container is stopped, so a failure
     * in between never leaves the slot with nothing to run.
     */
    async convergeContainer(input: ConvergeInput): Promise<ContainerRef> {
      const { spec } = input;
      const service = spec.services[input.service];
      const canonical = containerName(spec.project, service, input.number);
      const next = replacementName(canonical, input.configHash);
      const slot = await listProjectContainers(docker, spec.project, [`${Label.service}=${input.service}`, `${Label.containerNumber}=${input.number}`]);
      const step = convergeSlot(slot, { canonical, next }, input.configHash);

      if (step.kind === 'replace') {
        // Old container still in place: make sure its replacement exists first.
        const replacementId = step.replacementId ?? (await createContainer(docker, spec, input, next, true, step.holderId));
        heartbeat({ step: `stop ${canonical}` });
        if (input.renewAnonVolumes) await removeWithAnonymousVolumes(docker, step.holderId, stopTimeoutSec(service));
        else await removeById(docker, step.holderId, stopTimeoutSec(service));
        await docker.getContainer(replacementId).rename({ name: canonical });
      } else if (step.kind === 'rename') {
        await docker.getContainer(step.replacementId).rename({ name: canonical });
      } else if (step.kind === 'create') {
        await createContainer(docker, spec, input, canonical);
      }

      const info = await inspectOrUndefined(docker, canonical);
      if (!info) throw new Error(`container ${canonical} disappeared while converging; retrying`);
      for (const id of slotLeftovers(slot, info.Id)) await removeById(docker, id, 0);
      await connectExtraNetworks(docker, spec, input.service, info.Id);
      if (mustStart(info.State, input)) {
        heartbeat({ step: `start ${canonical}` });
        return { id: await startContainer(docker, input.service, info.Id, canonical), name: canonical };
      }
      return { id: info.Id, name: canonical };
    },

    async restartContainer(input: { service: string; name: string; stopTimeoutSec?: number }): Promise<void> {
      await docker.getContainer(input.name).restart(input.stopTimeoutSec !== undefined ? { t: input.stopTimeoutSec } : {});
    },

    async removeContainer(input: RemoveInput): Promise<void> {
      const info = await inspectOrUndefined(docker, input.id ?? input.name);
      if (!info) return;
      if (input.anonymousVolumes) await removeWithAnonymousVolumes(docker, info.Id, input.stopTimeoutSec);
      else await removeById(docker, info.Id, input.stopTimeoutSec);
    },

    /** Send a signal to (or restart) every running container of a service, e.g. SIGHUP to nginx after its upstream moved. */
    async nudgeService(input: { project: string; service: string; signal?: string; restart?: boolean }): Promise<string[]> {
      const containers = await listProjectContainers(docker, input.project, [`${Label.service}=${input.service}`, `${Label.oneoff}=False`]);
      const touched: string[] = [];
      for (const c of containers) {
        if (c.State !== 'running') continue;
        if (input.restart) await docker.getContainer(c.Id).restart();
        else await docker.getContainer(c.Id).kill({ signal: input.signal ?? 'SIGHUP' });
        touched.push((c.Names?.[0] ?? c.Id).replace(/^\//, ''));
      }
      return touched;
    },
  };
}
