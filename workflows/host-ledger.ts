/**
 * Every host's revision ledger in an operation across hosts (hosts.ts):
 * the latest revision any holds, each stack revision recorded on every
 * host, and the ledgers merged for a rollback, with the hosts that did not
 * answer.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import type { Placement } from '../src/plan/placement';
import { HostSilent } from './apply';
import type { ProgressTracker } from './progress';
import type { RouteOf } from './host-routes';

/** The latest revision any of the hosts' ledgers holds. */
export async function latestRevision(routeOf: RouteOf, project: string, hosts: string[], progress: ProgressTracker): Promise<Revision | undefined> {
  const found = await Promise.all(hosts.map((h) => progress.step(`read the ledger of ${h}`, () => routeOf(h).host.getRevision({ project }))));
  return found.reduce<Revision | undefined>((best, r) => (r && (!best || r.number > best.number) ? r : best), undefined);
}

export async function recordEverywhere(
  routeOf: RouteOf,
  progress: ProgressTracker,
  input: { project: string; operation: 'deploy' | 'update' | 'rollback'; spec: StackSpec; imageIds: Record<string, string>; changed: string[]; restoredFrom?: number },
  placement: Placement,
  number: number,
  unreachable: string[] = [],
): Promise<Revision> {
  const workflowId = workflowInfo().workflowId;
  const recorded = await Promise.all(
    placement.hosts.filter((h) => !unreachable.includes(h)).map((host) =>
      progress.step(`record revision ${number} of ${input.project} on ${host}`, () =>
        routeOf(host).host.recordRevision({
          ...input,
          workflowId,
          placement: placement.hostOf,
          number,
          tagServices: Object.keys(placement.hostOf).filter((s) => placement.hostOf[s] === host),
        }),
      ),
    ),
  );
  return recorded[0];
}

/**
 * Every host's ledger merged: one entry per revision number (the copies are
 * the same stack revision), oldest first. A host whose worker does not take
 * the read within the silence bound is left out and named in `unreachable`:
 * the others' copies of the stack revisions are enough to go on.
 */
export async function revisionsAcrossHosts(routeOf: RouteOf, project: string, hosts: string[], progress: ProgressTracker): Promise<{ revisions: Revision[]; unreachable: string[] }> {
  const unreachable: string[] = [];
  const lists = await Promise.all(
    hosts.map(async (h) => {
      try {
        return await progress.step(`list revisions of ${project} on ${h}`, () => routeOf(h).host.listRevisions(project));
      } catch (err) {
        if (!(err instanceof HostSilent)) throw err;
        unreachable.push(h);
        return [];
      }
    }),
  );
  const byNumber = new Map<number, Revision>();
  for (const list of lists) for (const r of list) if (!byNumber.has(r.number) || (r.placement && !byNumber.get(r.number)!.placement)) byNumber.set(r.number, r);
  return { revisions: [...byNumber.values()].sort((a, b) => a.number - b.number), unreachable: unreachable.sort() };
}

/** What a rollback or a status says about hosts it could not reach. */
export function notReached(unreachable: string[]): string {
  return `${unreachable.join(', ')} ${unreachable.length === 1 ? 'was' : 'were'} not reached (${unreachable.length === 1 ? 'its' : 'their'} containers and ledger are as they were; the next operation converges ${unreachable.length === 1 ? 'it' : 'them'})`;
}
