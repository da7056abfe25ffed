/**
 * Containers: bring one slot (service, number) to its desired container,
 * restart, remove, or signal a service's containers.
 */
import type Docker from 'dockerode';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { containerName, replacementName } from '../../src/model/names';
import { heartbeat, inspectOrUndefined, listProjectContainers, NOT_STARTED, slotHolder } from './shared';
import { connectExtraNetworks, createContainer, removeById, removeWithAnonymousVolumes, startContainer } from './container-ops';

export interface ConvergeInput {
  spec: StackSpec; // a service slice
  service: string;
  number: number;
  configHash: string;
  imageId: string;
  operation: string;
  action: 'create' | 'recreate' | 'start';
  oneShot: boolean;
  /**
   * A replacement gets fresh anonymous volumes instead of taking over the old
   * container's, and the old ones are removed with it (compose's
   * `-V/--renew-anon-volumes`). Default false: they are carried over.
   */
  renewAnonVolumes?: boolean;
}

export interface ContainerRef {
  id: string;
  name: string;
}

export interface WaitInput {
  service: string;
  name: string;
  /** Give up this long after the container started (Docker's StartedAt), so retries keep the same deadline. */
  budgetMs: number;
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
      const nameOf = (c: Docker.ContainerInfo) => (c.Names?.[0] ?? '').replace(/^\//, '');
      const hashOf = (c: Docker.ContainerInfo) => c.Labels?.[Label.configHash];
      let current = slotHolder(slot, canonical);

      if (current && hashOf(current) !== input.configHash) {
        // Old container still in place: make sure its replacement exists first.
        const replacement = slot.find((c) => nameOf(c) === next);
        const replacementId = replacement?.Id ?? (await createContainer(docker, spec, input, next, true, current.Id));
        heartbeat({ step: `stop ${canonical}` });
        const stopTimeoutSec = service.stopGracePeriodMs !== undefined ? Math.ceil(service.stopGracePeriodMs / 1000) : undefined;
        if (input.renewAnonVolumes) await removeWithAnonymousVolumes(docker, current.Id, stopTimeoutSec);
        else await removeById(docker, current.Id, stopTimeoutSec);
        await docker.getContainer(replacementId).rename({ name: canonical });
        current = undefined;
      } else if (!current) {
        const replacement = slot.find((c) => nameOf(c) === next);
        if (replacement) await docker.getContainer(replacement.Id).rename({ name: canonical });
        else await createContainer(docker, spec, input, canonical);
      }

      const info = await inspectOrUndefined(docker, canonical);
      if (!info) throw new Error(`container ${canonical} disappeared while converging; retrying`);
      for (const c of slot) {
        if (c.Id !== info.Id) await removeById(docker, c.Id, 0);
      }
      await connectExtraNetworks(docker, spec, input.service, info.Id);
      const neverStarted = info.State.StartedAt === NOT_STARTED || info.State.StartedAt === '';
      // A one-shot job that already ran must not run again on a retried attempt.
      const shouldStart = input.oneShot ? neverStarted || (input.action === 'start' && info.State.ExitCode !== 0) : !info.State.Running;
      if (shouldStart) {
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
