/**
 * The container steps the activities are made of: create one container of a
 * slot, start it, join its extra networks, remove it (with its anonymous
 * volumes when asked). Each is safe to repeat: it finds what an earlier
 * attempt did by name, ID or Docker's "already" answers.
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { containerName } from '../../src/model/names';
import { containerCreateOptions, endpointConfigFor, extraNetworks } from '../../src/docker/container-config';
import { ErrorType } from '../../src/errors';
import { isWedged, recreateWedged } from '../wedge';
import { anonymousVolumesOf, inheritAnonymousVolumes, removeAnonymousVolumes } from '../anonymous-volumes';
import { heartbeat, ignoreAlreadyConnected, ignoreNotConnected, inspectOrUndefined, messageOf, statusOf } from './shared';

/** One container slot to converge: the input of convergeContainer and of the steps below (containers.ts re-exports it). */
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

export async function connectExtraNetworks(docker: Docker, spec: StackSpec, service: string, id: string, withAliases = true): Promise<void> {
  const info = await docker.getContainer(id).inspect();
  const attached = new Set(Object.keys(info.NetworkSettings.Networks ?? {}));
  for (const a of extraNetworks(spec, spec.services[service], withAliases)) {
    if (attached.has(a.network)) continue;
    try {
      await docker.getNetwork(a.network).connect({ Container: id, EndpointConfig: endpointConfigFor(a) });
    } catch (err) {
      // A retried attempt may find the connection made by the previous one.
      if (!/already exists/i.test(messageOf(err))) throw err;
    }
  }
}

/** Attach (again) to a network with the given endpoint settings; a disconnect first when attached. */
export async function reconnect(docker: Docker, id: string, network: string, endpoint: object, attached: boolean): Promise<void> {
  if (attached) await docker.getNetwork(network).disconnect({ Container: id, Force: true }).catch(ignoreNotConnected);
  await docker.getNetwork(network).connect({ Container: id, EndpointConfig: endpoint }).catch(ignoreAlreadyConnected);
}

/** Start a container; returns its ID, which changes when a wedged container had to be recreated. */
export async function startContainer(docker: Docker, service: string, id: string, name: string): Promise<string> {
  try {
    await docker.getContainer(id).start();
    return id;
  } catch (err) {
    if (statusOf(err) === 304) return id; // already running
    const msg = messageOf(err);
    if (/port is already allocated|address already in use/i.test(msg)) {
      throw ApplicationFailure.nonRetryable(
        `service ${service}: cannot start ${name}: a published host port is already in use (${msg}). Free the port or change ports: in the compose file.`,
        ErrorType.portAllocated,
      );
    }
    if (isWedged(err)) {
      heartbeat({ step: `recreate ${name}: wedged by a Docker daemon restart (${msg})` });
      return recreateWedged(docker, id);
    }
    throw err;
  }
}

/**
 * Create one container of the slot. `replacing`: the container it replaces
 * (ID or name), whose anonymous volumes it takes over unless the input
 * renews them.
 */
export async function createContainer(docker: Docker, spec: StackSpec, input: ConvergeInput, name: string, withAliases = true, replacing?: string): Promise<string> {
  const service = spec.services[input.service];
  const inherited = replacing && !input.renewAnonVolumes ? await inheritAnonymousVolumes(docker, service, input.imageId, replacing) : [];
  const body = containerCreateOptions(
    spec,
    service,
    { project: spec.project, service: input.service, number: input.number, configHash: input.configHash, imageId: input.imageId, operation: input.operation },
    name,
    withAliases,
    inherited,
  );
  if (name !== containerName(spec.project, service, input.number)) {
    body.Labels = { ...body.Labels, [Label.replaces]: containerName(spec.project, service, input.number) };
  }
  try {
    const created = await docker.createContainer(body);
    return created.id;
  } catch (err) {
    if (statusOf(err) === 409) {
      // The name is taken: an earlier attempt created it between our look and now.
      // Never another project's container that happens to have the same configuration.
      const existing = await inspectOrUndefined(docker, name);
      const labels = existing?.Config.Labels ?? {};
      if (existing && labels[Label.project] === spec.project && labels[Label.configHash] === input.configHash) return existing.Id;
    }
    if (statusOf(err) === 400 || statusOf(err) === 409) {
      throw ApplicationFailure.nonRetryable(`service ${input.service}: Docker refused to create ${name}: ${messageOf(err)}`, ErrorType.dockerRejected);
    }
    throw err;
  }
}

/**
 * Stop and remove a container. `ownVolumes`: Docker also removes the
 * anonymous volumes the container created itself, in the same call, unless
 * another container mounts them.
 */
export async function removeById(docker: Docker, id: string, stopTimeoutSec?: number, ownVolumes = false): Promise<void> {
  const c = docker.getContainer(id);
  try {
    await c.stop(stopTimeoutSec !== undefined ? { t: stopTimeoutSec } : {});
  } catch (err) {
    if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
  }
  try {
    await c.remove({ force: true, ...(ownVolumes ? { v: true } : {}) });
  } catch (err) {
    // 404: already gone; 409 "removal already in progress": the daemon is doing it.
    if (statusOf(err) !== 404 && !/already in progress/i.test(messageOf(err))) throw err;
  }
}

/**
 * Remove a container for good together with its anonymous volumes (those no
 * other container mounts). The names are read before the container goes,
 * since afterwards nothing says which volumes were its. Docker removes the
 * ones the container created itself with it; those it took over from a
 * predecessor (mounted by name) are removed here.
 */
export async function removeWithAnonymousVolumes(docker: Docker, id: string, stopTimeoutSec?: number): Promise<string[]> {
  const info = await inspectOrUndefined(docker, id);
  if (!info) return [];
  const volumes = anonymousVolumesOf(info);
  await removeById(docker, info.Id, stopTimeoutSec, true);
  return removeAnonymousVolumes(docker, volumes);
}
