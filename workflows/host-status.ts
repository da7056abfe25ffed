/**
 * Where each host of a stack is: after an operation across hosts stopped
 * without going back (which host runs which revision), and for `dockflow ps`
 * (which host drifted from the stack's current revision). Read-only.
 */
import { ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import { z } from 'zod';
import { HostInfo } from '../src/model/hosts';
import { ProjectName } from '../src/model/names';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { hostPart, type Placement } from '../src/plan/placement';
import { describeHostRevision } from '../src/plan/host-revisions';
import { OperationFailure } from '../src/errors';
import { HostSilent } from './routes';
import { revisionImageIds } from './revisions';
import { rootMessage, type ProgressTracker } from './progress';
import { parseWorkflowInput } from './input';
import { place, router, sorted, type RouteOf } from './host-routes';

/** What a change across hosts was: enough to tell, per host, which side of it the host is on. */
export interface HostChangeSides {
  spec: StackSpec;
  placement: Placement;
  imageIds: Record<string, string>;
  previous?: Revision;
  /** Hosts planned: those the new placement uses and those the previous revision used. */
  involved: string[];
}

/**
 * Where each host is after an operation that stopped without rolling back
 * (failure_action pause or continue, a failure that is not a rollout's): per
 * host, whether its services run the new spec, the previous revision, or
 * neither. Read-only (verifyProject on each host).
 */
async function describeHostRevisions(
  routeOf: RouteOf,
  change: HostChangeSides,
  progress: ProgressTracker,
): Promise<string[]> {
  const { spec, placement, imageIds, previous, involved } = change;
  const before = previous && previousPlacement(previous, placement);
  const beforeIds = previous ? revisionImageIds(previous) : {};
  return Promise.all(
    involved.map(async (host) => {
      const route = routeOf(host);
      try {
        const now = hostPart(spec, placement.hostOf, host, placement.spread);
        const then = previous && before ? hostPart(previous.spec, before, host, previous.spread) : undefined;
        const [differNow, differThen] = await Promise.all([
          progress.step(`verify ${host} against the new spec`, () => route.docker.verifyProject({ spec: now, imageIds })),
          then ? progress.step(`verify ${host} against revision ${previous!.number}`, () => route.docker.verifyProject({ spec: then, imageIds: beforeIds })) : Promise.resolve([]),
        ]);
        return describeHostRevision({
          host,
          now: { services: Object.keys(now.services), differing: differNow.map((d) => d.service) },
          ...(then && previous ? { then: { number: previous.number, services: Object.keys(then.services), differing: differThen.map((d) => d.service) } } : {}),
        });
      } catch (err) {
        if (err instanceof HostSilent) return `${host}: not reached`;
        throw err;
      }
    }),
  );
}

/** The placement a revision recorded; a revision recorded without one keeps the new placement's hosts for its services. */
function previousPlacement(previous: Revision, current: Placement): Record<string, string> {
  return previous.placement ?? Object.fromEntries(Object.keys(previous.spec.services).map((s) => [s, current.hostOf[s] ?? current.hosts[0]]));
}

/**
 * An operation across hosts that failed without going back leaves hosts on
 * different revisions: the failure (and the progress query) say exactly
 * which host is on which. A rolled-back or cancelled failure passes as it is.
 */
export async function sayWhereHostsAre(
  failure: unknown,
  routeOf: RouteOf,
  change: Parameters<typeof describeHostRevisions>[1],
  progress: ProgressTracker,
): Promise<unknown> {
  if (!(failure instanceof ApplicationFailure) || failure.type === OperationFailure.rolledBack || isCancellation(failure)) return failure;
  let where: string[];
  try {
    where = await CancellationScope.nonCancellable(() => describeHostRevisions(routeOf, change, progress));
  } catch (err) {
    where = [`the hosts could not be read: ${rootMessage(err)}`];
  }
  const summary = `hosts now: ${where.join('; ')}`;
  progress.phase(`failed; ${summary}`);
  return ApplicationFailure.nonRetryable(`${failure.message}. ${summary}`, failure.type);
}

/** `dockflow ps` across hosts: each host's ledger and containers against the stack's current revision. */
export const StackHostsInput = z.strictObject({
  project: ProjectName,
  hosts: z.array(HostInfo).min(1),
  /** How long each host's worker may leave a read untaken before the host is reported as not answering. */
  hostSilenceSeconds: z.number().int().positive().default(10),
});

export interface HostDrift {
  host: string;
  /** The latest revision in the host's own ledger (absent: none, or not reached). */
  ledgerRevision?: number;
  /** The host did not answer within the bound. */
  unreachable?: boolean;
  /** Why the host is not on the stack's current revision; empty when it is. */
  drift: string[];
}

export interface StackHosts {
  project: string;
  /** The stack's current revision: the latest in any reachable host's ledger. */
  revision?: number;
  hosts: HostDrift[];
}

/**
 * Read-only: a host is drifted when its ledger is behind the stack's current
 * revision (it missed an operation, e.g. it was down during a rollback) or
 * its containers differ from its part of that revision. The next deploy,
 * update or rollback plans every host from what it observes, so it converges
 * a drifted host; until then this says so.
 */
export async function stackHosts(raw: unknown): Promise<StackHosts> {
  const input = parseWorkflowInput(StackHostsInput, raw, 'stackHosts');
  // No progress tracker: a status read is not an operation on the project (ps lists those as running).
  const routeOf = router(input.hostSilenceSeconds);
  const names = sorted(input.hosts.map((h) => h.name));
  const latest = await Promise.all(
    names.map(async (host) => {
      try {
        return { host, revision: await routeOf(host).host.getRevision({ project: input.project }) };
      } catch (err) {
        if (err instanceof HostSilent) return { host, unreachable: true as const };
        throw err;
      }
    }),
  );
  const current = latest.reduce<Revision | undefined>((best, l) => (l.revision && (!best || l.revision.number > best.number) ? l.revision : best), undefined);
  const placed = current && !current.placement ? place(current.spec, input.hosts, undefined) : undefined;
  const placement = current && (current.placement ?? placed?.hostOf);
  // A spread service's part on each host: the replicas the revision placed there.
  const spread = current?.spread ?? placed?.spread;
  const imageIds = current ? revisionImageIds(current) : {};
  const hosts = await Promise.all(
    latest.map(async (l): Promise<HostDrift> => {
      if ('unreachable' in l) return { host: l.host, unreachable: true, drift: ['did not answer'] };
      const drift: string[] = [];
      const ledgerRevision = l.revision?.number;
      if (current && ledgerRevision !== current.number) drift.push(`its ledger is at ${ledgerRevision === undefined ? 'no revision' : `revision ${ledgerRevision}`}, the stack at ${current.number}`);
      if (current && placement) {
        try {
          const differences = await routeOf(l.host).docker.verifyProject({ spec: hostPart(current.spec, placement, l.host, spread), imageIds });
          drift.push(...differences.map((d) => d.message));
        } catch (err) {
          if (!(err instanceof HostSilent)) throw err;
          return { host: l.host, unreachable: true, ...(ledgerRevision !== undefined ? { ledgerRevision } : {}), drift: ['did not answer'] };
        }
      }
      return { host: l.host, ...(ledgerRevision !== undefined ? { ledgerRevision } : {}), drift };
    }),
  );
  return { project: input.project, ...(current ? { revision: current.number } : {}), hosts };
}

