/**
 * Every host's revision ledger in an operation across hosts (hosts.ts):
 * the latest revision any holds, and each stack revision recorded on every
 * host. The ledgers merged for a rollback are host-rollback.ts's.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { servicesOn, type Placement } from '../src/plan/placement';
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
          ...(placement.spread ? { spread: placement.spread } : {}),
          number,
          // A spread service's images are on every host that runs one of its replicas.
          tagServices: placement.spread ? servicesOn(input.spec, placement, host) : Object.keys(placement.hostOf).filter((s) => placement.hostOf[s] === host),
        }),
      ),
    ),
  );
  return recorded[0];
}
