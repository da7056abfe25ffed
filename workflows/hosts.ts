/**
 * One operation across several Docker hosts. The workflow runs on the shared
 * task queue; every Docker step goes to the task queue of the host that runs
 * the service (`<queue>@<host>`, polled by `dockflow worker --host NAME`).
 * Placement is a pure function of the spec and the hosts (src/plan/placement.ts).
 *
 * The whole stack is one unit: its plan runs as one (depends_on across hosts
 * is honoured), one project lock covers every host, and a failure on any host
 * with failure_action rollback puts every host back to the previous revision.
 * Every host's ledger records a copy of each stack revision (same number on
 * every host, with the placement) and tags the images of its own services.
 *
 * deploy and update run the stack's deploy hooks as on one host (same
 * choice, order, names, timeouts and failure semantics), each on the host
 * that runs its service.
 *
 * Only operations whose input names hosts come here: a single-host operation
 * never does, so its commands are exactly those it always issued.
 *
 * Here the operations themselves; their parts beside: host-plans.ts (each
 * host planned, every host put back to a revision), host-ledger.ts (every
 * host's ledger), host-routes.ts (placement and routes), host-status.ts
 * (where each host is); down in host-down.ts.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { DeployOptions, RollbackInput, UpdateInput } from '../src/model/input';
import type { z } from 'zod';
import type { HostInfo } from '../src/model/hosts';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { countOperations } from '../src/plan/deploy-plan';
import { hostPart, hostsOfService, type Placement } from '../src/plan/placement';
import { ErrorType, OperationFailure } from '../src/errors';
import { serviceNumbers } from '../src/model/names';
import { HOST_SILENCE_SECONDS, HostSilent, executeHostPlans, type ApplyOptions, failureType, type HostPlan } from './apply';
import { changedServices, failAfterRollback, loadDeploySpec, revisionImageIds, type PutBack } from './revisions';
import { notReached, rollbackTargetAcrossHosts } from './host-rollback';
import { acquireProjectLock } from './lock';
import { rootMessage, type ProgressTracker } from './progress';
import type { DeployResult, RollbackResult, UpdateResult } from './results';
import { updatedSpec } from './update-spec';
import { planHooks, readHooks, runPostDeployHooks, runPreDeployHooks, settlePostDeploy, type HookHosts, type HookPlan } from './hooks';
import { describeHook, planWithHooks, type HookContext } from '../src/model/hooks';
import type { RolloutOverrides } from '../src/plan/rollout';
import { place, placementOf, router, sorted, type RouteOf } from './host-routes';
import { sayWhereHostsAre } from './host-status';
import { changedAcrossHosts, formatHostGraphs, formatHostPlans, planHosts, restoreAcrossHosts } from './host-plans';
import { latestRevision, recordEverywhere } from './host-ledger';
import { Compensations } from './compensations';
import { rollbackWithDataAcrossHosts } from './host-rollback-data';
import { downHosts, leftOut, needsDownHost } from './host-liveness';

export async function deployAcrossHosts(input: DeployOptions & { hosts: HostInfo[] }, progress: ProgressTracker): Promise<DeployResult> {
  const routeOf = router(input.hostSilenceSeconds);
  const registered = sorted(input.hosts.map((h) => h.name));
  // Hosts known down before anything starts (none in runs recorded before the patch): left out unless needed.
  const down = await downHosts(registered, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS, progress);
  const answering = registered.filter((h) => !down.has(h));
  // Compose files are read where the default host's worker runs (the only one, or --host; else one that answers).
  const loader = input.host ?? answering[0] ?? registered[0];
  const project = input.spec?.project ?? input.project ?? input.stack ?? 'the stack';
  if (!input.spec && down.has(loader)) throw needsDownHost(project, down.get(loader)!, 'the compose files are read on it (--host)');
  progress.phase('loading');
  const { spec, warnings } = await loadDeploySpec(input, routeOf(loader).host, `load compose files on ${loader}`, progress);
  progress.project = spec.project;
  // Pure: an inline spec did not necessarily come through the loader that checks hooks.
  const hooks = readHooks(spec);
  const placement = place(spec, input.hosts, input.host);
  for (const host of placement.hosts) {
    const d = down.get(host);
    if (d) throw needsDownHost(spec.project, d, `${servicesOn(placement, host)} placed on it`);
  }
  // Each host's worker decides for its own part (capabilities, binds, roots).
  for (const host of placement.hosts) {
    await progress.step(`check the policy of ${host}`, () => routeOf(host).host.checkPolicy(hostPart(spec, placement.hostOf, host, placement.spread)));
  }
  if (!input.dryRun) await acquireProjectLock(spec.project, 'deploy', input.waitForLock, progress);

  progress.phase('images');
  const imageIds: Record<string, string> = {};
  await Promise.all(
    placement.hosts.map(async (host) => {
      const part = hostPart(spec, placement.hostOf, host, placement.spread);
      const names = Object.keys(part.services).sort();
      const resolved = await progress.step(`images on ${host}: ${sorted(names.map((n) => part.services[n].image)).join(', ')}`, () =>
        routeOf(host).images.ensureImages({ spec: part, services: names, forceBuild: input.build, lookupOnly: input.dryRun }),
      );
      for (const name of names) sameImage(imageIds, spec.project, name, resolved[name] ?? `unresolved:${part.services[name].image}`, host);
    }),
  );

  progress.phase('planning');
  // A host that is down is not asked: every stack revision is also in the ledgers of the other hosts it placed services on.
  const previous = await latestRevision(routeOf, spec.project, answering, progress);
  // Hosts that ran the previous revision are planned too: what moved away from them goes.
  const involved = sorted([...placement.hosts, ...[...Object.values(previous?.placement ?? {}), ...Object.values(previous?.spread ?? {}).flat()].filter((h) => registered.includes(h))]);
  for (const host of involved) {
    const d = down.get(host);
    if (d && previous?.placement) throw needsDownHost(spec.project, d, `${servicesOn({ hostOf: previous.placement, ...(previous.spread ? { spread: previous.spread } : {}) }, host)} of revision ${previous.number} ran on it and must be removed there`);
  }
  const parts = await planHosts(routeOf, spec, placement, involved, imageIds, input.removeOrphans, progress);
  const operations = parts.reduce((n, p) => n + countOperations(p.plan), 0);
  const hooksRun = planHooks(hooks, changedAcrossHosts(spec, parts), operations > 0, input.dryRun);
  const result: DeployResult = {
    project: spec.project,
    dryRun: input.dryRun,
    plan: planWithHooks(formatHostPlans(parts), hooksRun.pre, hooksRun.post),
    graph: planWithHooks(formatHostGraphs(spec, parts, { wait: input.wait }), hooksRun.pre, hooksRun.post),
    operations,
    // A spread service's containers on every host, in replica order.
    services: containersOf(parts),
    warnings: [...warnings, ...placement.notes, ...parts.flatMap((p) => p.plan.notes), ...[...down.values()].map(leftOut)],
    hosts: placement.hostOf,
    ...(placement.spread ? { spread: placement.spread } : {}),
    ...(hooksRun.pre.length + hooksRun.post.length > 0 ? { hooks: [...hooksRun.pre, ...hooksRun.post].map(describeHook) } : {}),
  };
  if (input.dryRun) {
    progress.phase('done');
    return result;
  }

  const revision = await changeAcrossHosts(
    routeOf,
    'deploy',
    {
      spec,
      placement,
      imageIds,
      previous,
      involved,
      parts,
      hosts: input.hosts,
      hooks: { run: hooksRun, context: { project: spec.project, operation: 'deploy', revision: (previous?.number ?? 0) + 1, previousRevision: previous?.number } },
      warnings: result.warnings,
    },
    { removeOrphans: input.removeOrphans, wait: input.wait, healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes },
    progress,
  );
  progress.phase('done');
  return { ...result, revision: revision.number };
}

/** A change planned on every host it involves, with the revision it starts from. */
interface HostChange {
  spec: StackSpec;
  placement: Placement;
  imageIds: Record<string, string>;
  previous?: Revision;
  /** Hosts planned: those the new placement uses and those the previous revision used. */
  involved: string[];
  parts: HostPlan[];
  hosts: HostInfo[];
  /** The deploy hooks this change runs, each on its service's host. */
  hooks: { run: HookPlan; context: Omit<HookContext, 'workflowId'>; rollout?: RolloutOverrides };
  /** Where a post_deploy failure with failure_action continue leaves its warning. */
  warnings: string[];
}

/**
 * Run a planned change on every host as one, and record it as the next
 * stack revision on each (an unchanged redeploy is not a new revision). On
 * failure: a silent host leaves the others to go back without it;
 * failure_action rollback puts every host back to the previous revision;
 * anything else stops and says which host is on which revision.
 */
async function changeAcrossHosts(routeOf: RouteOf, operation: 'deploy' | 'update', change: HostChange, options: ApplyOptions, progress: ProgressTracker): Promise<Revision> {
  const { spec, placement, imageIds, previous, involved, parts, hosts, hooks } = change;
  const across: HookHosts = { hostOf: placement.hostOf, routeOf, partOf: (host) => hostPart(spec, placement.hostOf, host, placement.spread) };
  // A failed pre_deploy hook fails here, before any host's containers change.
  await runPreDeployHooks(hooks.run, spec, imageIds, hooks.context, progress, hooks.rollout, across);
  progress.phase('executing');
  const putBack: PutBack = {
    restore: (revision) => restoreAcrossHosts(routeOf, revision, hosts, involved, progress),
    removeAll: async () => {
      const removed = await Promise.all(involved.map((h) => progress.step(`remove what this ${operation} created on ${h}`, () => routeOf(h).docker.downProject({ project: spec.project, volumes: false }))));
      return removed.flatMap((r) => r.removed);
    },
  };
  let hookProblem;
  try {
    await executeHostPlans(spec, parts, options, progress);
    // A post_deploy failure with failure_action rollback puts every host back, as a failed rollout does.
    hookProblem = await runPostDeployHooks(hooks.run, spec, imageIds, hooks.context, progress, hooks.rollout, across);
  } catch (err) {
    if (err instanceof HostSilent && previous) return failWithoutHost(operation, spec.project, err, previous, routeOf, hosts, involved, progress);
    try {
      return await failAfterRollback(operation, spec.project, err, previous, progress, putBack);
    } catch (failure) {
      throw await sayWhereHostsAre(failure, routeOf, change, progress);
    }
  }
  const operations = parts.reduce((n, p) => n + countOperations(p.plan), 0);
  if (operations === 0 && previous && JSON.stringify(previous.placement) === JSON.stringify(placement.hostOf) && JSON.stringify(previous.spread) === JSON.stringify(placement.spread)) return previous;
  const changed = parts.flatMap((p) => changedServices(p.plan));
  const revision = await recordEverywhere(routeOf, progress, { project: spec.project, operation, spec, imageIds, changed }, placement, (previous?.number ?? 0) + 1);
  settlePostDeploy(hookProblem, operation, spec.project, revision.number, change.warnings, progress);
  return revision;
}

/**
 * update across hosts: the current stack revision (the latest in any host's
 * ledger) with the service's new image or replica count, placed where that
 * revision placed it, rolled out with its update_config (overridable per
 * call), and recorded on every host; its deploy hooks run as on one host,
 * each on its service's host.
 */
export async function updateAcrossHosts(input: z.output<typeof UpdateInput> & { hosts: HostInfo[] }, progress: ProgressTracker): Promise<UpdateResult> {
  const routeOf = router(input.hostSilenceSeconds);
  const registered = sorted(input.hosts.map((h) => h.name));
  const down = await downHosts(registered, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS, progress);
  const current = await latestRevision(routeOf, input.project, registered.filter((h) => !down.has(h)), progress);
  if (!current) {
    throw ApplicationFailure.nonRetryable(`project ${input.project} has no revision in the ledgers of ${registered.join(', ')}: deploy it with dockflow deploy first`, ErrorType.invalidSpec);
  }
  const spec = updatedSpec(current, input);
  // Pure: a revision recorded before hooks were checked may hold a bad one.
  const hooks = readHooks(spec);
  // Where the revision placed each service; a spread service's replicas spread again over the same hosts.
  const placement: Placement = placementOf(spec, current) ?? place(spec, input.hosts, undefined);
  const serviceHosts = hostsOfService(placement, input.service, spec.services[input.service].deploy.replicas);
  // Every host of the stack is planned (and may roll back): one that is down fails the update now.
  for (const host of placement.hosts) {
    const d = down.get(host);
    if (d) throw needsDownHost(input.project, d, `${servicesOn(placement, host)} of revision ${current.number} run on it`);
  }
  // The revision passed each host's policy when it was recorded; the policy may have been tightened since.
  for (const host of placement.hosts) {
    await progress.step(`check the policy of ${host} for revision ${current.number}`, () => routeOf(host).host.checkPolicy(hostPart(spec, placement.hostOf, host, placement.spread), { revision: current.number }));
  }
  const imageIds = revisionImageIds(current);
  if (input.image !== undefined) {
    // The image on every host that runs one of the service's replicas (one host unless it spreads), one host after another.
    const resolvedOn: Record<string, string> = {};
    for (const serviceHost of serviceHosts) {
      const part = hostPart(spec, placement.hostOf, serviceHost, placement.spread);
      const resolved = await progress.step(`${input.dryRun ? 'inspect' : 'pull'} ${input.image} on ${serviceHost}`, () =>
        routeOf(serviceHost).images.ensureImages({ spec: part, services: [input.service], forceBuild: false, lookupOnly: input.dryRun }),
      );
      // In a dry run an image that is not on the host yet counts as changed.
      sameImage(resolvedOn, input.project, input.service, resolved[input.service] ?? `unresolved:${input.image}`, serviceHost);
    }
    imageIds[input.service] = resolvedOn[input.service];
  }
  progress.phase('planning');
  const parts = await planHosts(routeOf, spec, placement, placement.hosts, imageIds, false, progress);
  const hooksRun = planHooks(hooks, changedAcrossHosts(spec, parts), parts.some((p) => countOperations(p.plan) > 0), input.dryRun);
  if (input.dryRun) {
    progress.phase('done');
    return {
      project: input.project,
      service: input.service,
      dryRun: true,
      plan: planWithHooks(formatHostPlans(parts), hooksRun.pre, hooksRun.post),
      graph: planWithHooks(
        formatHostGraphs(spec, parts, { wait: true, rollout: input.rollout }),
        hooksRun.pre,
        hooksRun.post,
      ),
      operations: parts.reduce((n, p) => n + countOperations(p.plan), 0),
      revision: current.number,
      hosts: placement.hostOf,
      ...(placement.spread ? { spread: placement.spread } : {}),
    };
  }
  const warnings: string[] = [];
  const revision = await changeAcrossHosts(
    routeOf,
    'update',
    {
      spec,
      placement,
      imageIds,
      previous: current,
      involved: placement.hosts,
      parts,
      hosts: input.hosts,
      hooks: { run: hooksRun, context: { project: input.project, operation: 'update', revision: current.number + 1, previousRevision: current.number }, rollout: input.rollout },
      warnings,
    },
    { removeOrphans: false, wait: true, rollout: input.rollout, healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes },
    progress,
  );
  progress.phase('done');
  return {
    project: input.project,
    service: input.service,
    plan: planWithHooks(formatHostPlans(parts), hooksRun.pre, hooksRun.post),
    revision: revision.number,
    hosts: placement.hostOf,
    ...(placement.spread ? { spread: placement.spread } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

export async function rollbackAcrossHosts(input: z.output<typeof RollbackInput> & { hosts: HostInfo[] }, progress: ProgressTracker): Promise<RollbackResult> {
  // Only inputs with "withData" and hosts go there; the schema refused them before, so no history reaches it.
  if (input.withData) return rollbackWithDataAcrossHosts(input, progress);
  const routeOf = router(input.hostSilenceSeconds);
  const registered = sorted(input.hosts.map((h) => h.name));
  const { current, target, unreachable } = await rollbackTargetAcrossHosts(routeOf, input.project, registered, input.to, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS, progress);
  progress.phase('executing');
  // Hosts the current revision uses lose what the target does not place there.
  const alsoOn = [...Object.values(current.placement ?? {}), ...Object.values(current.spread ?? {}).flat()].filter((h) => registered.includes(h) && !unreachable.includes(h));
  let parts: HostPlan[];
  try {
    parts = await restoreAcrossHosts(routeOf, target, input.hosts, alsoOn, progress, { healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes }, unreachable);
  } catch (err) {
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`rollback of ${input.project} to revision ${target.number} failed: ${rootMessage(err)}`, failureType(err, OperationFailure.rollbackFailed));
  }
  const placement: Placement = placementOf(target.spec, target) ?? place(target.spec, input.hosts, undefined);
  const revision = await recordEverywhere(
    routeOf,
    progress,
    { project: input.project, operation: 'rollback', spec: target.spec, imageIds: revisionImageIds(target), changed: parts.flatMap((p) => changedServices(p.plan)), restoredFrom: target.number },
    placement,
    current.number + 1,
    unreachable,
  );
  progress.phase(unreachable.length ? `done; ${notReached(unreachable)}` : 'done');
  return { project: input.project, restored: target.number, revision: revision.number, plan: formatHostPlans(parts), ...(unreachable.length ? { unreachable } : {}) };
}

/**
 * A host went silent during a change: every host that answers goes back to
 * the previous revision, and the failure says which host was not reached
 * (it may hold a mix of revisions until the next operation converges it).
 */
async function failWithoutHost(
  operation: string,
  project: string,
  err: HostSilent,
  previous: Revision,
  routeOf: RouteOf,
  hosts: HostInfo[],
  involved: string[],
  progress: ProgressTracker,
): Promise<never> {
  progress.phase(`rolling back every host but ${err.host}`);
  const others = involved.filter((h) => h !== err.host);
  // A compensation (compensations.ts) whose failure is reported with the host's.
  const undo = new Compensations();
  const back = undo.push({ title: `roll the other hosts back to revision ${previous.number}`, run: () => restoreAcrossHosts(routeOf, previous, hosts, others, progress, {}, [err.host]) });
  await undo.run();
  const undoFailure = undo.failureOf(back);
  if (undoFailure !== undefined) {
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`${operation} of ${project} failed: ${err.message}; rolling the other hosts back to revision ${previous.number} failed too: ${undoFailure}`, OperationFailure.hostSilent);
  }
  progress.phase('rolled back except one host');
  throw ApplicationFailure.nonRetryable(
    `${operation} of ${project} failed: ${err.message}. ${others.length ? `${others.join(', ')} went back to revision ${previous.number}; ` : ''}` +
      `${err.host} was not reached and may hold a mix of revisions until the next operation converges it`,
    OperationFailure.hostSilent,
  );
}

/** "services a, b" (or "service a"): what a placement puts on one host (a spread service on each host it spreads over). */
function servicesOn(placement: Pick<Placement, 'hostOf' | 'spread'>, host: string): string {
  const names = Object.keys(placement.hostOf).filter((s) => placement.hostOf[s] === host || placement.spread?.[s]?.includes(host)).sort();
  return `${names.length === 1 ? 'service' : 'services'} ${names.join(', ')}`;
}

/**
 * Record the image ID `service` resolved to on `host`. A spread service's
 * replicas must run one image on every host: a tag that resolves to another
 * image on another host (pushed again between the pulls) is refused, before
 * anything starts.
 */
function sameImage(imageIds: Record<string, string>, project: string, service: string, id: string, host: string): void {
  const before = imageIds[service];
  if (before !== undefined && before !== id) {
    throw ApplicationFailure.nonRetryable(`project ${project}: the image of service ${service} resolved to ${id} on ${host} but to ${before} on another host: its replicas would differ; deploy again`, ErrorType.invalidSpec);
  }
  imageIds[service] = id;
}

/** Every service's containers across the hosts' plans (a spread service's from each of its hosts), in replica order. */
function containersOf(parts: HostPlan[]): Record<string, string[]> {
  const of: Record<string, { number: number; name: string }[]> = {};
  for (const p of parts) {
    for (const s of p.plan.services) {
      const numbers = p.spec.services[s.service] ? serviceNumbers(p.spec.services[s.service]) : [];
      (of[s.service] ??= []).push(...s.containers.map((name, i) => ({ number: numbers[i] ?? i + 1, name })));
    }
  }
  return Object.fromEntries(Object.entries(of).map(([s, list]) => [s, list.sort((a, b) => a.number - b.number).map((c) => c.name)]));
}
