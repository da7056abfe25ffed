/**
 * A revision: one successful change of a project, as recorded in the ledger
 * on the Docker host. It holds everything needed to put the project back
 * exactly as it was: the resolved spec and every service's image ID (not only
 * its tag, which may have moved since).
 */
import { z } from 'zod';
import { StackSpec } from './spec';
import { ProjectName } from './names';

export const RevisionOperation = z.enum(['deploy', 'update', 'rollback', 'migrate']);
export type RevisionOperation = z.infer<typeof RevisionOperation>;

export const Revision = z.strictObject({
  project: ProjectName,
  /** 1, 2, 3... per project; never reused. */
  number: z.number().int().positive(),
  /** ISO time the revision was recorded. */
  createdAt: z.string(),
  operation: RevisionOperation,
  /** The Temporal workflow that made it; recording is idempotent per workflow. */
  workflowId: z.string(),
  spec: StackSpec,
  /** Per service: the image reference as written and the image ID it resolved to. */
  images: z.record(z.string(), z.strictObject({ ref: z.string(), id: z.string() })),
  /** Services whose containers this revision changed. */
  changed: z.array(z.string()),
  /** For a rollback: the revision it restored. */
  restoredFrom: z.number().int().positive().optional(),
  /**
   * Across several hosts: the host of every service. Each host's ledger keeps
   * a copy of the whole stack revision; absent on a single host.
   */
  placement: z.record(z.string(), z.string()).optional(),
  /** Across hosts: the hosts each spread service's replicas spread over (src/plan/placement.ts); absent when none spreads. */
  spread: z.record(z.string(), z.array(z.string())).optional(),
  /** Backups and migrations that belong to this revision. */
  links: z.strictObject({ backups: z.array(z.string()), migrations: z.array(z.string()) }),
});
export type Revision = z.infer<typeof Revision>;

/** A revision without its spec: what `dockflow history` lists. */
export type RevisionSummary = Omit<Revision, 'spec'>;

export function summarize({ spec: _spec, ...rest }: Revision): RevisionSummary {
  return rest;
}

/** Docker tag that keeps a revision's image from `docker image prune`. */
export function revisionImageTag(project: string, service: string, number: number): { repo: string; tag: string } {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
  return { repo: `dockflow-revision/${clean(project)}-${clean(service)}`, tag: `r${number}` };
}

/** Lines saying what changed between two revisions, for `dockflow history`. */
export function describeChange(previous: Revision | undefined, current: Revision): string[] {
  if (!previous) return Object.keys(current.images).sort().map((s) => `${s}: ${current.images[s].ref} (${shortId(current.images[s].id)})`);
  const lines: string[] = [];
  const services = new Set([...Object.keys(previous.images), ...Object.keys(current.images)]);
  for (const s of [...services].sort()) {
    const before = previous.images[s];
    const after = current.images[s];
    if (!before) lines.push(`${s}: added (${after.ref})`);
    else if (!after) lines.push(`${s}: removed`);
    else if (before.id !== after.id) lines.push(`${s}: ${before.ref} (${shortId(before.id)}) -> ${after.ref} (${shortId(after.id)})`);
    else if (current.changed.includes(s)) lines.push(`${s}: configuration changed`);
    const replicasBefore = previous.spec.services[s]?.deploy.replicas;
    const replicasAfter = current.spec.services[s]?.deploy.replicas;
    if (before && after && replicasBefore !== replicasAfter) lines.push(`${s}: replicas ${replicasBefore} -> ${replicasAfter}`);
  }
  return lines;
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
