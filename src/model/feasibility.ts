/**
 * Specs that can never be true on a host. Docker names containers uniquely,
 * so a `container_name` can hold one container: a service with one and more
 * than one replica, or two services (or a service and another's generated
 * name) sharing one name, would make the executor "create" the same container
 * several times and the ledger record replicas that do not exist. Checked
 * before anything starts: by the loader (naming file and key), on a workflow's
 * inline spec, and on `update --scale`.
 *
 * Pure: workflows call it.
 */
import type { StackSpec } from './spec';
import { containerName, desiredNumbers } from './names';

export interface SpecProblem {
  service: string;
  /** The compose key at fault, e.g. "container_name". */
  key: string;
  /** The key path from the top of the compose document: ["services", "web", "container_name"]. */
  path: string[];
  message: string;
}

/** Why a service with `containerName` cannot run `replicas` containers (undefined when it can). */
export function containerNameReplicasProblem(service: string, name: string | undefined, replicas: number): string | undefined {
  if (name === undefined || replicas <= 1) return undefined;
  return `service ${service} has container_name ${name}, so it cannot run ${replicas} replicas: Docker container names are unique (remove container_name to scale it)`;
}

/** Every reason `spec` cannot be true on a host, in service order; empty when it can. */
export function impossibleSpecProblems(spec: StackSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const owners = new Map<string, string>();
  const services = Object.keys(spec.services).sort();
  // Generated names first, so a container_name colliding with one is reported on the container_name.
  for (const name of services) {
    const service = spec.services[name];
    if (service.containerName !== undefined) continue;
    for (const n of desiredNumbers(service.deploy.replicas)) owners.set(containerName(spec.project, service, n), name);
  }
  for (const name of services) {
    const service = spec.services[name];
    if (service.containerName === undefined) continue;
    const path = ['services', name, 'container_name'];
    const replicas = containerNameReplicasProblem(name, service.containerName, service.deploy.replicas);
    if (replicas) problems.push({ service: name, key: 'container_name', path, message: replicas });
    const owner = owners.get(service.containerName);
    if (owner !== undefined) {
      const whose = spec.services[owner].containerName === service.containerName ? `services.${owner}.container_name` : `the name of a container of service ${owner}`;
      problems.push({
        service: name,
        key: 'container_name',
        path,
        message: `container_name ${service.containerName} of service ${name} is also ${whose}: Docker container names are unique`,
      });
    } else {
      owners.set(service.containerName, name);
    }
  }
  return problems;
}
