/**
 * Finds the resources a stack claims (its containers' names, its own
 * networks and volumes) that exist on the host but are not the project's
 * (see src/plan/ownership.ts). Read-only.
 */
import type Docker from 'dockerode';
import { isOwnedBy, type ForeignResource, type ResourceClaims } from '../src/plan/ownership';
import { Label } from '../src/model/labels';

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

/** A regular expression matching the text literally (Docker's name filters are regular expressions). */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function findForeignResources(docker: Docker, project: string, claims: ResourceClaims): Promise<ForeignResource[]> {
  const foreign: ForeignResource[] = [];
  if (claims.containers.length > 0) {
    // The name filter matches parts of names too: the exact comparison below decides.
    const found = await docker.listContainers({ all: true, filters: { name: claims.containers.map((c) => literal(c.name)) } });
    const byName = new Map(found.flatMap((c) => (c.Names ?? []).map((n) => [n.replace(/^\//, ''), c] as const)));
    for (const claim of claims.containers) {
      const c = byName.get(claim.name);
      if (c && !isOwnedBy(project, c.Labels)) foreign.push({ kind: 'container', ...claim, ...ownerOf(c.Labels) });
    }
  }
  if (claims.networks.length > 0) {
    const found = await docker.listNetworks({ filters: { name: claims.networks.map((n) => literal(n.name)) } });
    for (const claim of claims.networks) {
      for (const n of found.filter((f) => f.Name === claim.name)) {
        if (!isOwnedBy(project, n.Labels)) foreign.push({ kind: 'network', ...claim, ...ownerOf(n.Labels) });
      }
    }
  }
  for (const claim of claims.volumes) {
    let labels: Record<string, string> | undefined;
    try {
      labels = (await docker.getVolume(claim.name).inspect()).Labels ?? {};
    } catch (err) {
      if (statusOf(err) === 404) continue;
      throw err;
    }
    if (!isOwnedBy(project, labels)) foreign.push({ kind: 'volume', ...claim, ...ownerOf(labels) });
  }
  return foreign;
}

function ownerOf(labels: Record<string, string> | undefined): { owner?: string } {
  const owner = labels?.[Label.project];
  return owner !== undefined ? { owner } : {};
}
