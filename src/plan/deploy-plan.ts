/**
 * Reconcile the desired stack with what the host runs, as a list of typed
 * operations each naming its resource and its cause. Pure: the deploy workflow
 * and `dockflow deploy --dry-run` call the same function with the same inputs
 * and get the same plan.
 */
import type { DependencySpec, ServiceSpec, StackSpec } from '../model/spec';
import type { ObservedContainer, ObservedProject } from '../model/observed';
import { containerName, serviceNumbers } from '../model/names';
import { STARTED_BY_COMPOSE } from '../model/labels';
import { configHash } from './hash';
import { topologicalOrder } from './order';

export type ContainerAction = 'create' | 'recreate' | 'start' | 'restart' | 'remove';

export interface ContainerOperation {
  action: ContainerAction;
  /** "container:<name>" */
  resource: string;
  cause: string;
  service: string;
  number: number;
  name: string;
  /** The container as observed, when one exists. */
  containerId?: string;
}

export interface ResourceOperation {
  action: 'create';
  /** "network:<docker name>" or "volume:<docker name>" */
  resource: string;
  cause: string;
  key: string;
  name: string;
}

export interface ServiceStep {
  service: string;
  configHash: string;
  imageId: string;
  /** Canonical names of every container this service should end with. */
  containers: string[];
  dependsOn: Record<string, DependencySpec>;
  /** Operations on this service's containers, in execution order. */
  operations: ContainerOperation[];
  /** Set when the service is a one-shot job that other services wait on to complete. */
  oneShot: boolean;
  hasHealthcheck: boolean;
  /**
   * Nothing to do and, when observed, every container already met what
   * dependants wait for (healthy, or exited 0 for a one-shot): the executor
   * skips its waits. Untouched services of a redeploy then cost no history.
   */
  readyAsObserved: boolean;
}

export interface DeployPlan {
  project: string;
  networks: ResourceOperation[];
  volumes: ResourceOperation[];
  /** Services in dependency order (a service comes after everything it depends on). */
  services: ServiceStep[];
  /** Containers of services that are no longer in the spec (or scaled away by --remove-orphans). */
  orphans: ContainerOperation[];
  /** Things the user should know that are not operations, e.g. orphans kept. */
  notes: string[];
}

export interface PlanOptions {
  removeOrphans: boolean;
}

export function planDeploy(
  spec: StackSpec,
  observed: ObservedProject,
  imageIds: Record<string, string>,
  options: PlanOptions,
): DeployPlan {
  const plan: DeployPlan = { project: spec.project, networks: [], volumes: [], services: [], orphans: [], notes: [] };

  const observedNetworks = new Set(observed.networks.map((n) => n.name));
  for (const key of Object.keys(spec.networks).sort()) {
    const net = spec.networks[key];
    if (net.external || observedNetworks.has(net.name)) continue;
    plan.networks.push({ action: 'create', resource: `network:${net.name}`, cause: 'missing', key, name: net.name });
  }
  const observedVolumes = new Set(observed.volumes.map((v) => v.name));
  for (const key of Object.keys(spec.volumes).sort()) {
    const vol = spec.volumes[key];
    if (vol.external || observedVolumes.has(vol.name)) continue;
    plan.volumes.push({ action: 'create', resource: `volume:${vol.name}`, cause: 'missing', key, name: vol.name });
  }

  const byService = groupBy(observed.containers.filter((c) => !c.oneoff), (c) => c.service);
  const oneShots = oneShotServices(spec);
  const recreated = new Set<string>();

  for (const name of topologicalOrder(spec)) {
    const service = spec.services[name];
    const imageId = imageIds[name];
    if (imageId === undefined) throw new Error(`no image ID resolved for service ${name}`);
    const hash = configHash(spec, service, imageId);
    const step: ServiceStep = {
      service: name,
      configHash: hash,
      imageId,
      containers: [],
      dependsOn: service.dependsOn,
      operations: [],
      oneShot: oneShots.has(name),
      hasHealthcheck: hasHealthcheck(service),
      readyAsObserved: false,
    };
    const existing = byService.get(name) ?? [];
    const numbers = serviceNumbers(service);

    for (const number of numbers) {
      const canonical = containerName(spec.project, service, number);
      step.containers.push(canonical);
      step.operations.push(...planSlot(spec, service, number, canonical, hash, existing, step.oneShot));
    }

    // A dependency that is being (re)created restarts dependants that asked for it.
    const restartCause = Object.entries(service.dependsOn)
      .filter(([dep, d]) => d.restart && recreated.has(dep))
      .map(([dep]) => dep)[0];
    if (restartCause !== undefined) {
      for (const number of numbers) {
        if (step.operations.some((o) => o.number === number)) continue;
        const current = existing.find((c) => c.name === containerName(spec.project, service, number));
        if (!current) continue;
        step.operations.push(containerOp('restart', service.name, number, current.name, `dependency ${restartCause} was recreated`, current.id));
      }
    }

    for (const container of existing) {
      if (container.number > 0 && numbers.includes(container.number)) continue;
      step.operations.push(
        containerOp(
          'remove',
          name,
          container.number,
          container.name,
          // A spread service's replica whose slot another host runs now (src/plan/placement.ts).
          service.deploy.slots !== undefined && container.number > 0 && container.number <= service.deploy.replicas
            ? `replica ${container.number} runs on another host`
            : `scale down to ${service.deploy.replicas} replica(s)`,
          container.id,
        ),
      );
    }

    if (step.operations.some((o) => o.action === 'create' || o.action === 'recreate')) recreated.add(name);
    step.readyAsObserved =
      step.operations.length === 0 &&
      step.containers.every((canonical) => {
        const c = existing.find((e) => e.name === canonical);
        if (!c) return false;
        if (step.oneShot) return c.state === 'exited' && c.exitCode === 0;
        return !step.hasHealthcheck || (c.state === 'running' && c.health === 'healthy');
      });
    plan.services.push(step);
  }

  const orphanServices = [...byService.keys()].filter((s) => !(s in spec.services)).sort();
  for (const service of orphanServices) {
    for (const container of sortContainers(byService.get(service) ?? [])) {
      if (options.removeOrphans) {
        plan.orphans.push(
          containerOp('remove', service, container.number, container.name, `orphan: service ${service} is not in the compose file`, container.id),
        );
      } else {
        plan.notes.push(`orphan container ${container.name} (service ${service} is not in the compose file); pass --remove-orphans to remove it`);
      }
    }
  }
  return plan;
}

/**
 * Decide what one container slot (service, number) needs. Leftovers of an
 * interrupted update (a replacement or a retiring container) are removed,
 * except a replacement that already has the desired configuration: the
 * create or recreate adopts it.
 */
function planSlot(
  spec: StackSpec,
  service: ServiceSpec,
  number: number,
  canonical: string,
  hash: string,
  existing: ObservedContainer[],
  oneShot: boolean,
): ContainerOperation[] {
  const slot = existing.filter((c) => c.number === number);
  // A container docker compose started holds the slot under compose's name until it is replaced.
  const current = slot.find((c) => c.name === canonical) ?? slot.find((c) => c.startedByCompose);
  const leftovers = slot.filter((c) => c !== current);
  const adoptable = leftovers.find((c) => c.configHash === hash);
  const keep = current && current.configHash === hash ? undefined : adoptable;
  const ops = leftovers
    .filter((c) => c !== keep)
    .map((c) => containerOp('remove', service.name, number, c.name, 'leftover from an interrupted update', c.id));

  if (!current) {
    ops.push(containerOp('create', service.name, number, canonical, keep ? 'finish interrupted recreate' : 'missing'));
  } else if (current.startedByCompose) {
    ops.push(containerOp('recreate', service.name, number, canonical, STARTED_BY_COMPOSE, current.id));
  } else if (current.configHash !== hash) {
    ops.push(containerOp('recreate', service.name, number, canonical, 'config hash changed', current.id));
  } else if (!runsAsDesired(current, oneShot)) {
    ops.push(containerOp('start', service.name, number, canonical, `container is ${current.state}`, current.id));
  }
  return ops;
}

/**
 * A service container is meant to be running; a one-shot job that already
 * completed successfully (exited 0) is in its desired state too. The planner
 * starts a container for which this is false, and the host verification
 * (verify.ts) counts one as a difference, so the two never disagree.
 */
export function runsAsDesired(container: Pick<ObservedContainer, 'state' | 'exitCode'>, oneShot: boolean): boolean {
  return container.state === 'running' || (oneShot && container.state === 'exited' && container.exitCode === 0);
}

function containerOp(
  action: ContainerAction,
  service: string,
  number: number,
  name: string,
  cause: string,
  containerId?: string,
): ContainerOperation {
  return { action, resource: `container:${name}`, cause, service, number, name, ...(containerId ? { containerId } : {}) };
}

/** Services some other service waits on with service_completed_successfully. */
export function oneShotServices(spec: StackSpec): Set<string> {
  const result = new Set<string>();
  for (const service of Object.values(spec.services)) {
    for (const [dep, d] of Object.entries(service.dependsOn)) {
      if (d.condition === 'service_completed_successfully') result.add(dep);
    }
  }
  return result;
}

export function hasHealthcheck(service: ServiceSpec): boolean {
  return service.healthcheck !== undefined && !service.healthcheck.disable && service.healthcheck.test !== undefined;
}

export function countOperations(plan: DeployPlan): number {
  return plan.networks.length + plan.volumes.length + plan.orphans.length + plan.services.reduce((n, s) => n + s.operations.length, 0);
}

/** The plan as lines of text, as `--dry-run` prints it and golden tests compare it. */
export function formatPlan(plan: DeployPlan): string {
  const lines: string[] = [];
  for (const op of [...plan.networks, ...plan.volumes]) lines.push(`${op.action} ${op.resource} (${op.cause})`);
  for (const step of plan.services) {
    for (const op of step.operations) lines.push(`${op.action} ${op.resource} (${op.cause})`);
  }
  for (const op of plan.orphans) lines.push(`${op.action} ${op.resource} (${op.cause})`);
  if (lines.length === 0) lines.push(`project ${plan.project} is up to date: no operations`);
  for (const note of plan.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

function sortContainers(containers: ObservedContainer[]): ObservedContainer[] {
  return [...containers].sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
}
