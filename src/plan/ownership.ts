/**
 * Ownership: a project uses only what is its own. A container, network or
 * volume whose name the stack needs but that belongs to another project (its
 * compose project label says so) or to nobody (no compose project label) is
 * never adopted: the operation fails before anything is changed, naming the
 * owner. Compose adopts such networks and volumes with a warning (v2) or
 * silently (1.29), and fails on a container name only when Docker refuses
 * the create; dockflow refuses them all up front, so that two projects can
 * never end up sharing a database container or its volume by accident.
 * External networks and volumes are nobody's by definition and are not
 * claimed. Pure: the observe activity reports what it found, the workflow
 * fails with `describeForeignResources`.
 */
import type { StackSpec } from '../model/spec';
import { containerName, serviceNumbers } from '../model/names';
import { Label } from '../model/labels';
import type { Claim, ForeignResource } from '../model/observed';

export type { Claim, ForeignResource };

/** Every name the stack needs for itself. */
export interface ResourceClaims {
  containers: Claim[];
  networks: Claim[];
  volumes: Claim[];
}

export function resourceClaims(spec: StackSpec): ResourceClaims {
  const containers: Claim[] = [];
  for (const name of Object.keys(spec.services).sort()) {
    const service = spec.services[name];
    const key = service.containerName !== undefined ? `services.${name}.container_name` : `services.${name}`;
    for (const n of serviceNumbers(service)) containers.push({ name: containerName(spec.project, service, n), key });
  }
  const owned = <T extends { name: string; external: boolean }>(section: 'networks' | 'volumes', entries: Record<string, T>): Claim[] =>
    Object.keys(entries)
      .sort()
      .filter((key) => !entries[key].external)
      .map((key) => ({ name: entries[key].name, key: `${section}.${key}` }));
  return { containers, networks: owned('networks', spec.networks), volumes: owned('volumes', spec.volumes) };
}

/**
 * Whether a resource found under a claimed name is the project's own: it
 * carries the project's compose label, whether dockflow or docker-compose
 * created it (so a stack compose started can be taken over).
 */
export function isOwnedBy(project: string, labels: Record<string, string> | undefined): boolean {
  return labels?.[Label.project] === project;
}

/** The failure message: one line per resource, with the owner and what to do. */
export function describeForeignResources(project: string, foreign: ForeignResource[]): string {
  const lines = foreign.map((f) => {
    const owner = f.owner !== undefined ? `project ${f.owner}` : `a ${f.kind} not managed by compose/dockflow`;
    switch (f.kind) {
      case 'container':
        return `container name ${f.name} is used by ${owner} (${f.key}); remove or rename that container, or choose another container_name`;
      case 'network':
      case 'volume':
        return `${f.kind} ${f.name} is used by ${owner} (${f.key}); declare it external: true to share it, or give this one another name`;
    }
  });
  return `project ${project} cannot use resources it does not own; nothing was changed:\n${lines.join('\n')}`;
}
