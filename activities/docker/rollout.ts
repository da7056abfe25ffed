/**
 * Rollout steps of a start-first update: the replacement starts beside the
 * old container without the service's aliases, takes them over once healthy,
 * then the two swap names.
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { containerName, replacementName, retiringName } from '../../src/model/names';
import { endpointConfigFor, networkAttachments } from '../../src/docker/container-config';
import { ErrorType } from '../../src/errors';
import { inspectOrUndefined, inspectSlotHolder } from './shared';
import { connectExtraNetworks, createContainer, reconnect, startContainer } from './container-ops';
import type { ContainerRef, ConvergeInput } from './containers';

export function createRolloutActivities({ docker }: { docker: Docker }) {
  return {
    /**
     * start-first, step 1: the replacement runs beside the old container but
     * joins its networks without the service's aliases, so no client reaches
     * it before it is healthy. Idempotent by its deterministic name.
     */
    async startReplacement(input: ConvergeInput): Promise<ContainerRef> {
      const { spec } = input;
      const canonical = containerName(spec.project, spec.services[input.service], input.number);
      const next = replacementName(canonical, input.configHash);
      const existing = await inspectOrUndefined(docker, next);
      // The old container keeps running beside the replacement: both mount the carried
      // anonymous volumes until the old one is removed, as compose and swarm share a volume.
      // The slot's holder, whatever its name: a take-over replaces compose v1's `proj_web_1` too.
      const old = existing ? undefined : await inspectSlotHolder(docker, spec, input.service, input.number);
      const replacing = old && (old.Config.Labels ?? {})[Label.configHash] !== input.configHash ? old.Id : undefined;
      const id = existing?.Id ?? (await createContainer(docker, spec, input, next, false, replacing));
      await connectExtraNetworks(docker, spec, input.service, id, false);
      const info = existing ?? (await docker.getContainer(id).inspect());
      return { id: info.State.Running ? id : await startContainer(docker, input.service, id, next), name: next };
    },

    /**
     * start-first, step 2: give the healthy replacement the service's aliases,
     * then take the old container out of service discovery. The old one is
     * reconnected without aliases rather than disconnected: Docker gives it
     * back the address it just released, so connections already open to it
     * finish instead of hanging, while DNS stops handing it out. The new one
     * answers for the alias before the old one stops doing so, so the alias
     * never resolves to nothing. Known cost (bench/dns-window.ts): Docker
     * takes the old interface down at the start of the disconnect and drops
     * its DNS record only at the end, so a client that resolved the alias
     * then loses its SYN and resends it after Linux's 1 s initial RTO; the
     * Engine API has no way to drop the record first.
     */
    async promoteReplacement(input: { spec: StackSpec; service: string; number: number; configHash: string }): Promise<void> {
      const { spec } = input;
      const service = spec.services[input.service];
      const canonical = containerName(spec.project, service, input.number);
      const next = replacementName(canonical, input.configHash);
      const replacement = await inspectOrUndefined(docker, next);
      if (replacement) {
        for (const a of networkAttachments(spec, service, true)) {
          const endpoint = replacement.NetworkSettings.Networks?.[a.network];
          if (endpoint && a.aliases.every((alias) => endpoint.Aliases?.includes(alias))) continue;
          await reconnect(docker, replacement.Id, a.network, endpointConfigFor(a), Boolean(endpoint));
        }
      }
      const old = await inspectSlotHolder(docker, spec, input.service, input.number);
      if (old && (old.Config.Labels ?? {})[Label.configHash] !== input.configHash) {
        for (const [network, endpoint] of Object.entries(old.NetworkSettings.Networks ?? {})) {
          if (!endpoint.Aliases?.includes(input.service)) continue;
          await reconnect(docker, old.Id, network, { Aliases: [] }, true);
        }
      }
    },

    /**
     * start-first, step 3: the old container steps aside under a retiring
     * name and the replacement takes the canonical one. Safe to repeat.
     * Returns the retiring container's name, to be drained and removed.
     */
    async swapNames(input: { spec: StackSpec; service: string; number: number; configHash: string }): Promise<{ retiring?: string }> {
      const { spec } = input;
      const canonical = containerName(spec.project, spec.services[input.service], input.number);
      const next = replacementName(canonical, input.configHash);
      const retiring = retiringName(canonical, input.configHash);
      const current = await inspectSlotHolder(docker, spec, input.service, input.number);
      if (current && (current.Config.Labels ?? {})[Label.configHash] !== input.configHash && current.Name.replace(/^\//, '') !== retiring) {
        await docker.getContainer(current.Id).rename({ name: retiring });
      }
      const replacement = await inspectOrUndefined(docker, next);
      if (replacement) await docker.getContainer(replacement.Id).rename({ name: canonical });
      else if (!(await inspectOrUndefined(docker, canonical))) {
        throw ApplicationFailure.nonRetryable(`service ${input.service}: replacement ${next} vanished before it took over`, ErrorType.unhealthy);
      }
      return (await inspectOrUndefined(docker, retiring)) ? { retiring } : {};
    },
  };
}
