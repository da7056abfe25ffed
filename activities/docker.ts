/**
 * Docker side effects for deploy and down. Every activity is idempotent: it
 * first finds what an earlier attempt already did (containers by
 * deterministic name and labels, networks and volumes by name) and finishes or
 * reuses it. Decisions about *what* to do belong to the workflow's plan; these
 * functions only know how to bring one resource to the requested state.
 */
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StackSpec } from '../src/model/spec';
import type { ObservedContainer, ObservedProject } from '../src/model/observed';
import { isStartedByCompose, Label, MANAGED_BY } from '../src/model/labels';
import { containerName, replacementName, retiringName } from '../src/model/names';
import { containerCreateOptions, endpointConfigFor, extraNetworks, networkAttachments, networkIpam, volumeCreateOptions, type ContainerMount } from '../src/docker/container-config';
import { ErrorType } from '../src/errors';
import { isWedged, recreateWedged } from './wedge';
import { packBuildContext } from './build-context';
import { hostDifferences, type HostDifference } from '../src/plan/verify';
import { anonymousVolumesOf, inheritAnonymousVolumes, removeAnonymousVolumes } from './anonymous-volumes';
import { findForeignResources } from './ownership';
import type { ResourceClaims } from '../src/plan/ownership';

export interface DockerActivityDeps {
  docker: Docker;
  /** How often long waits poll Docker and heartbeat. Default 500 ms. */
  pollIntervalMs?: number;
}

export interface EnsureImageInput {
  spec: StackSpec; // a service slice
  service: string;
  /** Build even when the image exists (`--build`). */
  forceBuild: boolean;
  /** Only look the image up; never build or pull (for --dry-run). */
  lookupOnly: boolean;
}

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

const NOT_STARTED = '0001-01-01T00:00:00Z';

/** How often one wait starts a container again that something outside stopped (see restartIfStoppedFromOutside). */
const MAX_RESTARTS_AFTER_OUTSIDE_STOP = 3;

export function createDockerActivities({ docker, pollIntervalMs = 500 }: DockerActivityDeps) {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * Every level of a depends_on chain waits on this poll before the next
   * level is created, so half an interval on average adds up along the chain
   * (measured with bench/deploy-timeline.ts); an inspect costs a few ms.
   */
  const healthPollMs = Math.min(pollIntervalMs, 250);

  /** Long polls stop when Temporal asks (the heartbeat delivers the request). */
  function throwIfCancelled(): void {
    try {
      Context.current().cancellationSignal.throwIfAborted();
    } catch (err) {
      if (err instanceof Error && err.message.includes('Activity context not initialized')) return;
      throw err;
    }
  }

  function heartbeat(details?: unknown) {
    try {
      Context.current().heartbeat(details);
    } catch {
      // Called outside an activity (unit use): nothing to report to.
    }
  }

  async function inspectOrUndefined(nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await docker.getContainer(nameOrId).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * A container this operation is waiting for that was stopped by SIGTERM or
   * SIGKILL without running out of memory was stopped from outside: most
   * often by a restart of the Docker daemon (without live-restore it stops
   * every container and starts only those with a restart policy), or by a
   * `docker stop` during the deploy. The desired state is "running", so it is
   * started again, a few times at most, instead of failing the deploy for
   * something the service did not do.
   */
  async function restartIfStoppedFromOutside(input: WaitInput, info: Docker.ContainerInspectInfo, restartsSoFar: number): Promise<boolean> {
    const state = info.State;
    if (state.Running || state.Restarting || state.OOMKilled || state.StartedAt === NOT_STARTED) return false;
    if (state.ExitCode !== 137 && state.ExitCode !== 143) return false;
    if (restartsSoFar >= MAX_RESTARTS_AFTER_OUTSIDE_STOP) return false;
    heartbeat({ step: `start ${input.name} again (stopped from outside with code ${state.ExitCode})` });
    await startContainer(input.service, info.Id, input.name);
    return true;
  }

  /** Until the container is healthy; fails on unhealthy, exit, or the budget measured from its start. */
  async function waitHealthy(input: WaitInput): Promise<void> {
    let restarts = 0;
    for (;;) {
      const info = await inspectOrUndefined(input.name);
      if (!info) throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is gone`, ErrorType.unhealthy);
      const health = info.State.Health;
      if (!health) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} has no healthcheck, so it can never become healthy (add a healthcheck: or use condition: service_started)`,
          ErrorType.unhealthy,
        );
      }
      const lastOutput = (health.Log ?? []).at(-1)?.Output?.trim() ?? '';
      if (health.Status === 'healthy') return;
      if (await restartIfStoppedFromOutside(input, info, restarts)) {
        restarts += 1;
        continue;
      }
      if (!info.State.Running && !info.State.Restarting) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} exited with code ${info.State.ExitCode} before becoming healthy; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      if (health.Status === 'unhealthy') {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} is unhealthy after ${health.FailingStreak} failed checks; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      const started = Date.parse(info.State.StartedAt);
      if (Number.isFinite(started) && Date.now() - started > input.budgetMs) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} still "${health.Status}" ${Math.round(input.budgetMs / 1000)} s after it started; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      heartbeat({ step: `wait healthy ${input.name}`, status: health.Status });
      await sleep(healthPollMs);
      throwIfCancelled();
    }
  }

  async function imageIdOrUndefined(ref: string): Promise<string | undefined> {
    try {
      return (await docker.getImage(ref).inspect()).Id;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function followStream(stream: NodeJS.ReadableStream, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
          if (err) return reject(err);
          const failed = output.find((o) => o.error || o.errorDetail);
          if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
          resolve();
        },
        (event: { status?: string; stream?: string; progress?: string }) => heartbeat({ step: what, status: event.status ?? event.stream?.trim() }),
      );
    });
  }

  async function buildImage(spec: StackSpec, service: string): Promise<void> {
    const s = spec.services[service];
    const build = s.build!;
    if (!fs.existsSync(build.context)) {
      throw ApplicationFailure.nonRetryable(
        `service ${service}: build context ${build.context} does not exist`,
        ErrorType.imageUnavailable,
      );
    }
    if (!fs.existsSync(path.join(build.context, build.dockerfile))) {
      throw ApplicationFailure.nonRetryable(
        `service ${service}: Dockerfile ${build.dockerfile} not found in build context ${build.context}`,
        ErrorType.imageUnavailable,
      );
    }
    let stream: NodeJS.ReadableStream;
    try {
      // The context as Docker's client sends it: what .dockerignore excludes (.env, node_modules...) stays on the host.
      stream = await docker.buildImage(
        packBuildContext(build.context, build.dockerfile),
        {
          t: s.image,
          dockerfile: build.dockerfile,
          ...(build.target ? { target: build.target } : {}),
          buildargs: build.args,
          labels: { ...(build.labels ?? {}), [Label.project]: spec.project, [Label.service]: service },
        },
      );
      await followStream(stream, `build ${s.image}`);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`service ${service}: building image ${s.image} failed: ${messageOf(err)}`, ErrorType.imageUnavailable);
    }
  }

  async function pullImage(service: string, image: string): Promise<void> {
    try {
      const stream = await docker.pull(image);
      await followStream(stream as NodeJS.ReadableStream, `pull ${image}`);
    } catch (err) {
      const msg = messageOf(err);
      throw ApplicationFailure.create({
        message: `service ${service}: image ${image} is not on this host and pulling it failed: ${msg}`,
        type: ErrorType.imageUnavailable,
        // "not found"/"denied" cannot heal by retrying; network errors might, a few times.
        nonRetryable: /not found|manifest unknown|denied|unauthorized|invalid reference/i.test(msg),
      });
    }
  }

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

  async function listProjectContainers(project: string, extra: string[] = []): Promise<Docker.ContainerInfo[]> {
    return docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`, ...extra] } });
  }

  /**
   * The container that holds a slot now, the one a recreate replaces: the one
   * with the canonical name, else one docker compose started (under
   * compose's own name), the same rule as the planner's (planSlot).
   */
  function slotHolder(slot: Docker.ContainerInfo[], canonical: string): Docker.ContainerInfo | undefined {
    return slot.find((c) => (c.Names?.[0] ?? '').replace(/^\//, '') === canonical) ?? slot.find((c) => isStartedByCompose(c.Labels));
  }

  /** slotHolder for a slot given by project, service and number, inspected (undefined when the slot is empty). */
  async function inspectSlotHolder(spec: StackSpec, service: string, number: number): Promise<Docker.ContainerInspectInfo | undefined> {
    const canonical = containerName(spec.project, spec.services[service], number);
    const slot = await listProjectContainers(spec.project, [`${Label.service}=${service}`, `${Label.containerNumber}=${number}`]);
    const holder = slotHolder(slot, canonical);
    return holder ? inspectOrUndefined(holder.Id) : undefined;
  }

  async function connectExtraNetworks(spec: StackSpec, service: string, id: string, withAliases = true): Promise<void> {
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
  async function reconnect(id: string, network: string, endpoint: object, attached: boolean): Promise<void> {
    if (attached) await docker.getNetwork(network).disconnect({ Container: id, Force: true }).catch(ignoreNotConnected);
    await docker.getNetwork(network).connect({ Container: id, EndpointConfig: endpoint }).catch(ignoreAlreadyConnected);
  }

  /** Start a container; returns its ID, which changes when a wedged container had to be recreated. */
  async function startContainer(service: string, id: string, name: string): Promise<string> {
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
  async function createContainer(spec: StackSpec, input: ConvergeInput, name: string, withAliases = true, replacing?: string): Promise<string> {
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
        const existing = await inspectOrUndefined(name);
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
  async function removeById(id: string, stopTimeoutSec?: number, ownVolumes = false): Promise<void> {
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
   * The project's containers, networks and volumes, found by labels only;
   * with `claims`, also the claimed names that exist but are not the
   * project's (reported in `foreign`, never touched).
   */
  async function observeProject(project: string, claims?: ResourceClaims): Promise<ObservedProject> {
    const containers = await listProjectContainers(project);
    // Exit codes and health are only in inspect; a container can vanish
    // meanwhile. The inspects run side by side: one after another they took
    // 0.5–1.5 s for 50 containers on a busy engine, twice per deploy.
    const observed = await Promise.all(
      containers.map(async (c) => toObserved(c, c.State === 'running' && !/health/.test(c.Status ?? '') ? undefined : await inspectOrUndefined(c.Id))),
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

  /**
   * Remove a container for good together with its anonymous volumes (those no
   * other container mounts). The names are read before the container goes,
   * since afterwards nothing says which volumes were its. Docker removes the
   * ones the container created itself with it; those it took over from a
   * predecessor (mounted by name) are removed here.
   */
  async function removeWithAnonymousVolumes(id: string, stopTimeoutSec?: number): Promise<string[]> {
    const info = await inspectOrUndefined(id);
    if (!info) return [];
    const volumes = anonymousVolumesOf(info);
    await removeById(info.Id, stopTimeoutSec, true);
    return removeAnonymousVolumes(docker, volumes);
  }

  const imageActivities = {
    /** Returns the local image ID of the service's image, building or pulling it when needed. */
    async ensureImage(input: EnsureImageInput): Promise<string | undefined> {
      const s = input.spec.services[input.service];
      const existing = await imageIdOrUndefined(s.image);
      if (input.lookupOnly) return existing;
      const mustBuild = s.build !== undefined && (input.forceBuild || existing === undefined || s.pullPolicy === 'build');
      if (mustBuild) {
        await buildImage(input.spec, input.service);
      } else if (existing === undefined || s.pullPolicy === 'always') {
        if (s.pullPolicy === 'never') {
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: image ${s.image} is not on this host and pull_policy is "never"`,
            ErrorType.imageUnavailable,
          );
        }
        await pullImage(input.service, s.image);
      } else {
        return existing;
      }
      const id = await imageIdOrUndefined(s.image);
      if (!id) throw ApplicationFailure.nonRetryable(`service ${input.service}: image ${s.image} missing after build/pull`, ErrorType.imageUnavailable);
      return id;
    },
  };

  return {
    ensureImage: imageActivities.ensureImage,

    /**
     * ensureImage for several services in one activity (in parallel): one step
     * and three history events for a stack's images instead of three per
     * service. Images shared by services are resolved once. A failure names its
     * service; a retry is cheap, since images already present are only inspected.
     */
    async ensureImages(input: Omit<EnsureImageInput, 'service'> & { services: string[] }): Promise<Record<string, string | undefined>> {
      const byImage = new Map<string, Promise<string | undefined>>();
      const ids = await Promise.all(
        input.services.map((service) => {
          const s = input.spec.services[service];
          // Built images are per service (their build contexts differ); pulled ones are shared.
          const key = s.build ? `build:${service}` : `image:${s.image}:${s.pullPolicy ?? ''}`;
          let pending = byImage.get(key);
          if (!pending) {
            pending = imageActivities.ensureImage({ ...input, service });
            byImage.set(key, pending);
          }
          return pending;
        }),
      );
      return Object.fromEntries(input.services.map((service, i) => [service, ids[i]]));
    },

    /**
     * The project's containers, networks and volumes, found by labels only;
     * with `claims`, also the claimed names that exist but are not the project's.
     */
    observeProject,

    /**
     * Compare the host with what an operation is about to report and record
     * (src/plan/verify.ts): an empty list when every service has its replicas
     * with the desired config hashes and image IDs. Read-only.
     */
    async verifyProject(input: { spec: StackSpec; imageIds: Record<string, string> }): Promise<HostDifference[]> {
      return hostDifferences(input.spec, input.imageIds, await observeProject(input.spec.project));
    },

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
      const slot = await listProjectContainers(spec.project, [`${Label.service}=${input.service}`, `${Label.containerNumber}=${input.number}`]);
      const nameOf = (c: Docker.ContainerInfo) => (c.Names?.[0] ?? '').replace(/^\//, '');
      const hashOf = (c: Docker.ContainerInfo) => c.Labels?.[Label.configHash];
      let current = slotHolder(slot, canonical);

      if (current && hashOf(current) !== input.configHash) {
        // Old container still in place: make sure its replacement exists first.
        const replacement = slot.find((c) => nameOf(c) === next);
        const replacementId = replacement?.Id ?? (await createContainer(spec, input, next, true, current.Id));
        heartbeat({ step: `stop ${canonical}` });
        const stopTimeoutSec = service.stopGracePeriodMs !== undefined ? Math.ceil(service.stopGracePeriodMs / 1000) : undefined;
        if (input.renewAnonVolumes) await removeWithAnonymousVolumes(current.Id, stopTimeoutSec);
        else await removeById(current.Id, stopTimeoutSec);
        await docker.getContainer(replacementId).rename({ name: canonical });
        current = undefined;
      } else if (!current) {
        const replacement = slot.find((c) => nameOf(c) === next);
        if (replacement) await docker.getContainer(replacement.Id).rename({ name: canonical });
        else await createContainer(spec, input, canonical);
      }

      const info = await inspectOrUndefined(canonical);
      if (!info) throw new Error(`container ${canonical} disappeared while converging; retrying`);
      for (const c of slot) {
        if (c.Id !== info.Id) await removeById(c.Id, 0);
      }
      await connectExtraNetworks(spec, input.service, info.Id);
      const neverStarted = info.State.StartedAt === NOT_STARTED || info.State.StartedAt === '';
      // A one-shot job that already ran must not run again on a retried attempt.
      const shouldStart = input.oneShot ? neverStarted || (input.action === 'start' && info.State.ExitCode !== 0) : !info.State.Running;
      if (shouldStart) {
        heartbeat({ step: `start ${canonical}` });
        return { id: await startContainer(input.service, info.Id, canonical), name: canonical };
      }
      return { id: info.Id, name: canonical };
    },

    async restartContainer(input: { service: string; name: string; stopTimeoutSec?: number }): Promise<void> {
      await docker.getContainer(input.name).restart(input.stopTimeoutSec !== undefined ? { t: input.stopTimeoutSec } : {});
    },

    async removeContainer(input: RemoveInput): Promise<void> {
      const info = await inspectOrUndefined(input.id ?? input.name);
      if (!info) return;
      if (input.anonymousVolumes) await removeWithAnonymousVolumes(info.Id, input.stopTimeoutSec);
      else await removeById(info.Id, input.stopTimeoutSec);
    },

    /**
     * Wait until Docker reports the container healthy. Docker applies the
     * healthcheck's interval, retries and start_period itself; the budget is a
     * safety net for a container stuck in "starting".
     */
    waitHealthy,

    /** Wait for a one-shot container to exit 0 (service_completed_successfully). */
    async waitCompleted(input: WaitInput): Promise<void> {
      let restarts = 0;
      for (;;) {
        const info = await inspectOrUndefined(input.name);
        if (!info) throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is gone`, ErrorType.jobFailed);
        if (await restartIfStoppedFromOutside(input, info, restarts)) {
          restarts += 1;
          continue;
        }
        if (!info.State.Running && !info.State.Restarting && info.State.StartedAt !== NOT_STARTED) {
          if (info.State.ExitCode === 0) return;
          const tail = await logTail(docker, info.Id, 20);
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: ${input.name} exited with code ${info.State.ExitCode}; last log lines:\n${tail}`,
            ErrorType.jobFailed,
          );
        }
        const started = Date.parse(info.State.StartedAt);
        if (Number.isFinite(started) && started > 0 && Date.now() - started > input.budgetMs) {
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: ${input.name} still running ${Math.round(input.budgetMs / 1000)} s after it started`,
            ErrorType.jobFailed,
          );
        }
        heartbeat({ step: `wait completed ${input.name}` });
        await sleep(pollIntervalMs);
        throwIfCancelled();
      }
    },

    /**
     * start-first, step 1: the replacement runs beside the old container but
     * joins its networks without the service's aliases, so no client reaches
     * it before it is healthy. Idempotent by its deterministic name.
     */
    async startReplacement(input: ConvergeInput): Promise<ContainerRef> {
      const { spec } = input;
      const canonical = containerName(spec.project, spec.services[input.service], input.number);
      const next = replacementName(canonical, input.configHash);
      const existing = await inspectOrUndefined(next);
      // The old container keeps running beside the replacement: both mount the carried
      // anonymous volumes until the old one is removed, as compose and swarm share a volume.
      // The slot's holder, whatever its name: a take-over replaces compose v1's `proj_web_1` too.
      const old = existing ? undefined : await inspectSlotHolder(spec, input.service, input.number);
      const replacing = old && (old.Config.Labels ?? {})[Label.configHash] !== input.configHash ? old.Id : undefined;
      const id = existing?.Id ?? (await createContainer(spec, input, next, false, replacing));
      await connectExtraNetworks(spec, input.service, id, false);
      const info = existing ?? (await docker.getContainer(id).inspect());
      return { id: info.State.Running ? id : await startContainer(input.service, id, next), name: next };
    },

    /**
     * start-first, step 2: give the healthy replacement the service's aliases,
     * then take the old container out of service discovery. The old one is
     * reconnected without aliases rather than disconnected: Docker gives it
     * back the address it just released, so connections already open to it
     * finish instead of hanging, while DNS stops handing it out. The new one
     * answers for the alias before the old one stops doing so, so the alias
     * never resolves to nothing.
     */
    async promoteReplacement(input: { spec: StackSpec; service: string; number: number; configHash: string }): Promise<void> {
      const { spec } = input;
      const service = spec.services[input.service];
      const canonical = containerName(spec.project, service, input.number);
      const next = replacementName(canonical, input.configHash);
      const replacement = await inspectOrUndefined(next);
      if (replacement) {
        for (const a of networkAttachments(spec, service, true)) {
          const endpoint = replacement.NetworkSettings.Networks?.[a.network];
          if (endpoint && a.aliases.every((alias) => endpoint.Aliases?.includes(alias))) continue;
          await reconnect(replacement.Id, a.network, endpointConfigFor(a), Boolean(endpoint));
        }
      }
      const old = await inspectSlotHolder(spec, input.service, input.number);
      if (old && (old.Config.Labels ?? {})[Label.configHash] !== input.configHash) {
        for (const [network, endpoint] of Object.entries(old.NetworkSettings.Networks ?? {})) {
          if (!endpoint.Aliases?.includes(input.service)) continue;
          await reconnect(old.Id, network, { Aliases: [] }, true);
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
      const current = await inspectSlotHolder(spec, input.service, input.number);
      if (current && (current.Config.Labels ?? {})[Label.configHash] !== input.configHash && current.Name.replace(/^\//, '') !== retiring) {
        await docker.getContainer(current.Id).rename({ name: retiring });
      }
      const replacement = await inspectOrUndefined(next);
      if (replacement) await docker.getContainer(replacement.Id).rename({ name: canonical });
      else if (!(await inspectOrUndefined(canonical))) {
        throw ApplicationFailure.nonRetryable(`service ${input.service}: replacement ${next} vanished before it took over`, ErrorType.unhealthy);
      }
      return (await inspectOrUndefined(retiring)) ? { retiring } : {};
    },

    /** After a monitor window: the container must still run, and be healthy if it has a healthcheck. */
    async checkContainer(input: { service: string; name: string; budgetMs?: number }): Promise<void> {
      const budgetMs = input.budgetMs ?? 120_000;
      let info = await inspectOrUndefined(input.name);
      if (info && (await restartIfStoppedFromOutside({ ...input, budgetMs }, info, 0))) info = await inspectOrUndefined(input.name);
      // "starting" again after being healthy means it was restarted (by us just now, or by its
      // restart policy after a daemon restart): judge it by the health it reaches, not mid-way.
      if (info?.State.Running && info.State.Health?.Status === 'starting') {
        await waitHealthy({ ...input, budgetMs });
        return;
      }
      if (!info || !info.State.Running) {
        const tail = info ? await logTail(docker, info.Id, 10) : '';
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: ${input.name} stopped during the monitor window${info ? ` (exit code ${info.State.ExitCode})` : ''}${tail ? `; last log lines:\n${tail}` : ''}`,
          ErrorType.unhealthy,
        );
      }
      const health = info.State.Health;
      if (health && health.Status !== 'healthy') {
        const last = (health.Log ?? []).at(-1)?.Output?.trim() || '(none)';
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: ${input.name} became ${health.Status} during the monitor window; last health output: ${last}`,
          ErrorType.unhealthy,
        );
      }
    },

    /** Send a signal to (or restart) every running container of a service, e.g. SIGHUP to nginx after its upstream moved. */
    async nudgeService(input: { project: string; service: string; signal?: string; restart?: boolean }): Promise<string[]> {
      const containers = await listProjectContainers(input.project, [`${Label.service}=${input.service}`, `${Label.oneoff}=False`]);
      const touched: string[] = [];
      for (const c of containers) {
        if (c.State !== 'running') continue;
        if (input.restart) await docker.getContainer(c.Id).restart();
        else await docker.getContainer(c.Id).kill({ signal: input.signal ?? 'SIGHUP' });
        touched.push((c.Names?.[0] ?? c.Id).replace(/^\//, ''));
      }
      return touched;
    },

    /** Whether an image ID (e.g. a revision's) is still on the host. */
    async imageExists(id: string): Promise<boolean> {
      return (await imageIdOrUndefined(id)) !== undefined;
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
      for (const c of await listProjectContainers(input.project)) {
        for (const v of anonymousVolumesOf(c as { Mounts?: ContainerMount[] })) anonymous.add(v);
        await removeById(c.Id);
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

export type DockerActivities = ReturnType<typeof createDockerActivities>;

export async function logTail(docker: Docker, id: string, lines: number): Promise<string> {
  try {
    const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(buf).trim();
  } catch {
    return '(logs unavailable)';
  }
}

/** Docker multiplexes stdout/stderr of non-TTY containers in 8-byte-headed frames. */
export function demuxLogs(buf: Buffer): string {
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= buf.length && (buf[offset] === 1 || buf[offset] === 2 || buf[offset] === 0)) {
    const size = buf.readUInt32BE(offset + 4);
    parts.push(buf.subarray(offset + 8, offset + 8 + size).toString('utf8'));
    offset += 8 + size;
  }
  return offset === 0 ? buf.toString('utf8') : parts.join('');
}

export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

export function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const json = (err as { json?: { message?: string } }).json;
    if (json?.message) return json.message;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

function ignoreNotConnected(err: unknown): void {
  if (statusOf(err) === 404 || /is not connected/i.test(messageOf(err))) return;
  throw err;
}

function ignoreAlreadyConnected(err: unknown): void {
  if (/already exists|already attached/i.test(messageOf(err))) return;
  throw err;
}
