/**
 * The plans of an operation across hosts (hosts.ts): every host observed
 * and planned for its part of the stack, the plan text per host, the
 * services a change alters anywhere, and every host put back to a recorded
 * revision (the undo of a failed change, and rollback).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { HostInfo } from '../src/model/hosts';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { formatPlan, type DeployPlan } from '../src/plan/deploy-plan';
import { hostPart, type Placement } from '../src/plan/placement';
import { topologicalOrder } from '../src/plan/order';
import { ErrorType } from '../src/errors';
import { executeHostPlans, observeAndPlan, type HostPlan } from './apply';
import type { GraphOptions } from '../src/plan/graph';
import { stackGraphs } from './host-spread';
import { changedServices, revisionImageIds } from './revisions';
import type { ProgressTracker } from './progress';
import { place, placementOf, sorted, type RouteOf } from './host-routes';

/**
 * What `--dry-run` prints across hosts: each host's plan graph, built as the
 * executor builds them (apply.ts: the whole stack's dependants decide which
 * waits are folded). A service whose replicas spread over several hosts rolls
 * as one across them (host-spread.ts), so its steps are shown once, in a block
 * of their own naming each replica's host, not in the hosts' blocks.
 */
export function formatHostGraphs(spec: StackSpec, parts: HostPlan[], options: GraphOptions): string {
  const { graphs, spreadGraph, spreadPlan, routeOfContainer } = stackGraphs(spec, parts, options);
  const indent = (text: string) => text.replace(/^/gm, '  ');
  const blocks = parts.map((p) => `on ${p.host}:\n${indent(graphs.get(p)!.toString())}`);
  if (spreadPlan && spreadGraph) {
    const hostOf = (name: string) => parts.find((p) => p.route === routeOfContainer.get(name))?.host ?? '?';
    const where = spreadPlan.services.map((s) => `${s.service}: ${s.containers.map((c) => `${c} on ${hostOf(c)}`).join(', ')}`);
    blocks.push(`across hosts (replicas spread over several hosts, rolled as one; ${where.join('; ')}):\n${indent(spreadGraph.toString())}`);
  }
  return blocks.join('\n');
}

/** The plan text, one block per host. */
export function formatHostPlans(parts: HostPlan[]): string {
  return parts.map((p) => `${p.host}:\n${formatPlan(p.plan).split('\n').map((line) => `  ${line}`).join('\n')}`).join('\n');
}

/**
 * Observe and plan every host of `hosts` for its part of `spec`. A service the
 * stack still has but placed elsewhere is removed from its old host (it
 * moved); one the stack no longer has is an orphan, removed only with
 * `removeOrphans`, as on one host.
 */
export async function planHosts(
  routeOf: RouteOf,
  spec: StackSpec,
  placement: Placement,
  hosts: string[],
  imageIds: Record<string, string>,
  removeOrphans: boolean,
  progress: ProgressTracker,
): Promise<HostPlan[]> {
  return Promise.all(
    hosts.map(async (host): Promise<HostPlan> => {
      const part = hostPart(spec, placement.hostOf, host, placement.spread);
      const route = routeOf(host);
      const ids = Object.fromEntries(Object.keys(part.services).map((s) => [s, imageIds[s]]));
      const full = await observeAndPlan(part, ids, true, progress, route, host);
      const orphans: DeployPlan['orphans'] = [];
      const notes = full.notes.filter((n) => !n.startsWith('orphan container'));
      for (const op of full.orphans) {
        const movedTo = placement.hostOf[op.service];
        if (movedTo !== undefined) orphans.push({ ...op, cause: `service ${op.service} now runs on ${movedTo}` });
        else if (removeOrphans) orphans.push(op);
        else notes.push(`orphan container ${op.name} on ${host} (service ${op.service} is not in the compose file); pass --remove-orphans to remove it`);
      }
      return { host, spec: part, route, plan: { ...full, orphans, notes } };
    }),
  );
}

/** The services a change alters on any host, in dependency order: the order their hooks run in, as on one host. */
export function changedAcrossHosts(spec: StackSpec, parts: HostPlan[]): string[] {
  const changed = new Set(parts.flatMap((p) => changedServices(p.plan)));
  return topologicalOrder(spec).filter((s) => changed.has(s));
}

/**
 * Put every host back to `revision`: its services where they were, with its
 * exact image IDs, rolled with rollback_config; hosts in `alsoOn` that the
 * revision did not use lose the project's containers.
 */
export async function restoreAcrossHosts(
  routeOf: RouteOf,
  revision: Revision,
  hosts: HostInfo[],
  alsoOn: string[],
  progress: ProgressTracker,
  options: { healthTimeoutSeconds?: number; renewAnonVolumes?: boolean } = {},
  unreachable: string[] = [],
): Promise<HostPlan[]> {
  const placement = await checkRevisionOnHosts(routeOf, revision, hosts, unreachable, progress);
  const imageIds = revisionImageIds(revision);
  const parts = await planHosts(routeOf, revision.spec, placement, sorted([...placement.hosts, ...alsoOn]).filter((h) => !unreachable.includes(h)), imageIds, true, progress);
  await executeHostPlans(revision.spec, parts, { removeOrphans: true, wait: true, rollingBack: true, ...options }, progress);
  return parts;
}

/**
 * Before a revision is put back across hosts: where it runs (its recorded
 * placement), and on each host that answers, its policy as it is now and the
 * revision's exact images. Changes nothing; returns the placement.
 */
export async function checkRevisionOnHosts(routeOf: RouteOf, revision: Revision, hosts: HostInfo[], unreachable: string[], progress: ProgressTracker): Promise<Placement> {
  const placement: Placement = placementOf(revision.spec, revision) ?? place(revision.spec, hosts, undefined);
  const imageIds = revisionImageIds(revision);
  // A host that did not answer is left out: the others go back all the same, and the caller says so.
  const reachable = placement.hosts.filter((h) => !unreachable.includes(h));
  for (const host of reachable) {
    const part = hostPart(revision.spec, placement.hostOf, host, placement.spread);
    // The policy of each host as it is now, and the revision's exact images on it.
    await progress.step(`check the policy of ${host} for revision ${revision.number}`, () => routeOf(host).host.checkPolicy(part, { revision: revision.number }));
    for (const service of Object.keys(part.services)) {
      if (!(await routeOf(host).docker.imageExists(imageIds[service]))) {
        throw ApplicationFailure.nonRetryable(
          `revision ${revision.number} of ${revision.project}: image ${imageIds[service]} of service ${service} (${revision.images[service].ref}) is no longer on ${host}`,
          ErrorType.imageUnavailable,
        );
      }
    }
  }
  return placement;
}
