/**
 * The executor every operation that changes containers shares (deploy,
 * update, rollback): observe → plan → execute, with rolling replacement of
 * changed containers. Deterministic: all Docker work goes through activities.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { StackSpec } from '../src/model/spec';
import { serviceSlice } from '../src/model/slice';
import { countOperations, formatPlan, planDeploy, type ContainerOperation, type DeployPlan, type ServiceStep } from '../src/plan/deploy-plan';
import { rolloutSettings, type RolloutSettings } from '../src/plan/rollout';
import { describeForeignResources, resourceClaims } from '../src/plan/ownership';
import { hostDifferences } from '../src/plan/verify';
import type { ObservedProject } from '../src/model/observed';
import { ErrorType, firstFailureType } from '../src/errors';
import type { ProgressTracker } from './progress';
import { afterReplace, rollingReplace } from './rolling';
import { convergeInput, settleAll, stopTimeout, waitBudgetMs, type ApplyOptions } from './apply-common';
import { Batcher, fewerRoundTrips } from './round-trips';
import { LOCAL, onHost, type HostPlan, type Route, type docker } from './routes';
import type { BatchConvergeInput, BatchWaitInput } from '../activities/batch';
import { isPatched, oneMarkerRun } from './patches';
import { stackGraphs } from './host-spread';
import { RECONVERGE_ROUNDS } from '../src/plan/graph';

// The proxies and routes lived here first; every workflow still imports them from here.
export { HOST_SILENCE_SECONDS, HostSilent, LIVENESS_TIMEOUT, LOCAL, docker, host, images, naming, onHost, retry, routeTo, waits, type HostPlan, type Route } from './routes';
// The options and the rollout failure live with what rolling.ts also uses (apply-common.ts); callers still import them from here.
export { RolloutFailure, type ApplyOptions } from './apply-common';

export async function observeAndPlan(
  spec: StackSpec,
  imageIds: Record<string, string>,
  removeOrphans: boolean,
  progress: ProgressTracker,
  route: Route = LOCAL,
  host?: string,
): Promise<DeployPlan> {
  return (await observeForPlan(spec, imageIds, removeOrphans, progress, route, host)).plan;
}

/** observeAndPlan, with the observation the plan was made from. */
async function observeForPlan(spec: StackSpec, imageIds: Record<string, string>, removeOrphans: boolean, progress: ProgressTracker, route: Route, host?: string): Promise<{ observed: ObservedProject; plan: DeployPlan }> {
  const observed = await progress.step(`observe project ${spec.project}${onHost(host)}`, async () => {
    const found = await shortSteps(route).observeProject(spec.project, resourceClaims(spec));
    // Before the plan runs, so another project's (or nobody's) resource is never adopted and nothing is changed.
    if (found.foreign?.length) throw ApplicationFailure.nonRetryable(describeForeignResources(spec.project, found.foreign), ErrorType.notOwned);
    return found;
  });
  return { observed, plan: planDeploy(spec, observed, imageIds, { removeOrphans }) };
}

/** Where a short Docker step goes: a local activity on the workflow's own host, else the route's activity. */
export function shortSteps(route: Route): typeof docker {
  return route.local && fewerRoundTrips() ? route.local.docker : route.docker;
}


/**
 * Run a plan, then make sure the host still matches it. The host can drift
 * while a plan runs: a Docker daemon restart stops every container without a
 * restart policy, and someone may `docker stop` or remove a container. So the
 * project is observed once more at the end and whatever differs from the
 * spec is converged again (a few rounds at most), and the operation ends in
 * its desired state instead of the one the daemon left behind.
 */
export async function executePlan(spec: StackSpec, plan: DeployPlan, options: ApplyOptions, progress: ProgressTracker): Promise<void> {
  await executeHostPlans(spec, [{ spec, plan, route: LOCAL }], options, progress);
}

/**
 * executePlan across hosts: one plan per host, run as one (depends_on is
 * honoured across hosts), then every host observed again and verified. With
 * a single part it issues exactly the commands executePlan always issued.
 */
export async function executeHostPlans(whole: StackSpec, parts: HostPlan[], options: ApplyOptions, progress: ProgressTracker): Promise<void> {
  await applyPlans(whole, parts, options, progress);
  const imageIdsOf = (p: HostPlan) => Object.fromEntries(p.plan.services.map((s) => [s.service, s.imageId]));
  // The observations of a last pass that found nothing to converge: what the host holds now.
  let settled: ObservedProject[] | undefined;
  for (let pass = 1; pass <= RECONVERGE_ROUNDS; pass++) {
    const observations = await Promise.all(parts.map((p) => observeForPlan(p.spec, imageIdsOf(p), options.removeOrphans, progress, p.route, p.host)));
    const again = parts.map((p, i): HostPlan => ({ ...p, plan: observations[i].plan }));
    const drifted = again.filter((p) => countOperations(p.plan) > 0);
    if (drifted.length === 0) {
      settled = observations.map((o) => o.observed);
      break;
    }
    const what = drifted.map((p) => formatPlan(p.plan).split('\n').join(', ')).join(', ');
    const which = drifted.length === 1 && drifted[0].host === undefined ? 'the host' : `${drifted.map((p) => p.host).join(', ')}`;
    await progress.step(`${which} drifted during the operation; converging again (${what})`, () =>
      applyPlans(whole, drifted, { ...options, rollout: undefined }, progress),
    );
  }
  // Histories recorded before this check reported success here without looking.
  if (isPatched(VERIFY_PATCH)) await Promise.all(parts.map((p, i) => verifyHost(p.spec, imageIdsOf(p), options, progress, p.route, p.host, settled?.[i])));
}

/** patched() ID of the host verification that ends every executePlan (docs/workflow-changes.md). */
export const VERIFY_PATCH = 'dockflow-verify-host';

/**
 * The host does not hold what the operation would report (and the ledger
 * record): a replica missing, a container with another image or config. The
 * caller handles it like a failed rollout, so failure_action rollback rolls
 * the project back.
 */
export class HostMismatch extends ApplicationFailure {
  constructor(
    readonly differences: string[],
    readonly failureAction: RolloutSettings['failureAction'],
  ) {
    super(`the host does not match the spec after the operation: ${differences.join('; ')}`, ErrorType.hostMismatch, true);
  }
}

/**
 * Observe the host and compare it with the spec just applied. Nothing is
 * recorded as true that the host does not show: the ledger, `history` and
 * `rollback` rely on every revision having really run.
 */
async function verifyHost(spec: StackSpec, imageIds: Record<string, string>, options: ApplyOptions, progress: ProgressTracker, route: Route, host?: string, observed?: ObservedProject): Promise<void> {
  // Since ONE_MARKER_PATCH, the observation the last converge pass just took (nothing was changed after it) is
  // compared with the spec here, by the same pure function verifyProject runs on a fresh one: one read less.
  const differences = await progress.step(`verify that the host matches project ${spec.project}${onHost(host)}`, async () =>
    observed && oneMarkerRun() ? hostDifferences(spec, imageIds, observed) : shortSteps(route).verifyProject({ spec, imageIds }),
  );
  if (differences.length === 0) return;
  // The differing services' own failure_action decides; rolling back never rolls back again.
  const rollback =
    !options.rollingBack &&
    differences.some((d) => spec.services[d.service] && rolloutSettings(spec.services[d.service].deploy.updateConfig, options.rollout).failureAction === 'rollback');
  throw new HostMismatch(
    differences.map((d) => (host === undefined ? d.message : `${host}: ${d.message}`)),
    rollback ? 'rollback' : 'pause',
  );
}

/**
 * Run one plan, as its graphs (src/plan/graph.ts, one per host) say: each
 * service's gates, its direct steps (folded with their wait or not), its
 * rollout and nudges, the final waits and the orphans all come from the
 * graph's nodes. Each service starts as soon as its gates are met, one gate
 * after the other; waits are memoised so a service several others depend on
 * is waited for once, starting when the first of them gets there.
 *
 * Walked per service, not node by node, because the commands a run issues
 * (and so every recorded history) depend on this shape: a wait starts when
 * the first dependant reaches it, not when its service converged (a graph
 * edge cannot say "whichever dependant comes first"); a service's replicas
 * start in one tick, so batched steps share an activity; a rollout's batches
 * share its failure count, and its old containers go in the background.
 */
async function applyPlans(spec: StackSpec, parts: HostPlan[], options: ApplyOptions, progress: ProgressTracker): Promise<void> {
  // The plan's container operations, announced as pending before any runs.
  for (const part of parts) {
    for (const s of part.plan.services) {
      for (const op of s.operations) {
        progress.expect(`op:${op.name}`, `${op.action === 'recreate' ? 'replace' : op.action} ${op.name} (${op.cause})${onHost(part.host)}`, { service: s.service, container: op.name });
      }
    }
  }
  for (const part of parts) for (const op of part.plan.orphans) progress.expect(`op:${op.name}`, `remove ${op.name} (${op.cause})${onHost(part.host)}`, { container: op.name });
  await Promise.all(parts.map((part) => progress.step(`ensure networks and volumes${onHost(part.host)}`, () => shortSteps(part.route).ensureNetworksAndVolumes(part.spec))));
  // Container steps asked for together go to the host as one activity (round-trips.ts).
  const batched = fewerRoundTrips();
  const convergeBatcher = (route: Route) => new Batcher((inputs: BatchConvergeInput[]) => route.docker.convergeContainers(inputs));
  const convergers = new Map(parts.map((part) => [part.route, convergeBatcher(part.route)] as const));
  // Containers that are also waited for go in a batch of their own: a dependant never waits for their health.
  const convergeAndWaiters = new Map(parts.map((part) => [part.route, convergeBatcher(part.route)] as const));
  const waitBatcher = (route: Route) => new Batcher((inputs: BatchWaitInput[]) => route.waits.waitContainers(inputs));
  // The final waits have no dependant left to hold up: one batch per host for all of them.
  const finalWaiters = new Map(parts.map((part) => [part.route, waitBatcher(part.route)] as const));
  const operation = workflowInfo().workflowId;
  const converged = new Map<string, Promise<void>>();
  const healthy = new Map<string, Promise<void>>();
  const completed = new Map<string, Promise<void>>();
  // One step per service; a spread service's replicas on several hosts are one step (host-spread.ts).
  // Each host's plan as a graph, built as --dry-run builds it: the executor takes its decisions from there.
  const { ordered, partOf, routeOfContainer, hostsOfSpread, graphs, graphOf } = stackGraphs(spec, parts, options);
  const routeOf = (service: string): Route => partOf.get(service)?.route ?? parts[0].route;
  // A container's host: its own for a spread service's replica, else its service's.
  const routeOfOp = (service: string, container: string): Route => routeOfContainer.get(container) ?? routeOf(service);
  // Every host that runs a service: its own, or each host of a spread service's replicas.
  const routesOf = (service: string): Route[] => hostsOfSpread.get(service) ?? [routeOf(service)];
  // Runs recorded before the batched steps created and waited for such containers apart.
  const convergesThenWaits = (step: ServiceStep): boolean => batched && graphOf(step.service).foldedWaits.has(step.service);

  const waitFor = (cache: Map<string, Promise<void>>, service: string, kind: 'healthy' | 'completed', final = false): Promise<void> => {
    let pending = cache.get(service);
    if (!pending) {
      pending = (async () => {
        await converged.get(service);
        // Untouched and already healthy (or completed) when observed: the graph has nothing to wait for.
        const targets = graphOf(service).waitTargets[service];
        if (!targets) return;
        const budgetMs = waitBudgetMs(spec.services[service], options.healthTimeoutSeconds);
        // A dependant waits for this service's containers only, never for another service's: one batch per host.
        const waiters = new Map<Route, ReturnType<typeof waitBatcher>>();
        const waiterOf = (route: Route) => {
          if (!batched) return undefined;
          if (final) return finalWaiters.get(route)!;
          if (!waiters.has(route)) waiters.set(route, waitBatcher(route));
          return waiters.get(route)!;
        };
        await Promise.all(
          targets.map((name) => {
            const route = routeOfOp(service, name);
            const waiter = waiterOf(route);
            return progress.step(
              `wait ${kind} ${name}`,
              () =>
                waiter
                  ? waiter.add({ kind, service, name, budgetMs })
                  : kind === 'healthy'
                    ? route.waits.waitHealthy({ service, name, budgetMs })
                    : route.waits.waitCompleted({ service, name, budgetMs }),
              { service, container: name },
            );
          }),
        );
      })();
      // Marked handled here; settleAll at the end still reports the failure.
      pending.catch(() => undefined);
      cache.set(service, pending);
    }
    return pending;
  };

  const runService = async (step: ServiceStep): Promise<void> => {
    // The graph's nodes say what runs: its gates one after the other, the steps run directly, then the rollout with its nudges.
    const graph = graphOf(step.service);
    for (const gate of graph.gates[step.service]) {
      if (gate.condition === 'healthy') await waitFor(healthy, gate.service, 'healthy');
      else if (gate.condition === 'completed') await waitFor(completed, gate.service, 'completed');
      else await converged.get(gate.service);
    }
    const slice = serviceSlice(spec, step.service);
    const direct = graph.direct(step.service).map((run) => run.op);
    if (convergesThenWaits(step)) {
      const budgetMs = waitBudgetMs(spec.services[step.service], options.healthTimeoutSeconds);
      await Promise.all(
        direct.map(async (op) => {
          const both = convergeAndWaiters.get(routeOfOp(step.service, op.name))!.add({ ...convergeInput(slice, step, op, operation, options), waitHealthyMs: budgetMs });
          both.catch(() => undefined);
          const where = { service: step.service, container: op.name };
          await progress.step(`${op.action} ${op.name} (${op.cause})`, () => both, { key: `op:${op.name}`, ...where });
          await progress.step(`wait healthy ${op.name}`, () => both, where);
        }),
      );
      return;
    }
    // Replicas of one service are independent of each other.
    await Promise.all(
      direct.map((op) =>
        progress.step(
          `${op.action} ${op.name} (${op.cause})`,
          (): Promise<unknown> =>
            // Create and start are idempotent, so they may share an activity; a restart or a removal keeps its own.
            batched && (op.action === 'create' || op.action === 'start')
              ? convergers.get(routeOfOp(step.service, op.name))!.add(convergeInput(slice, step, op, operation, options))
              : applyOperation(slice, step, op, operation, options, routeOfOp(step.service, op.name)),
          { key: `op:${op.name}`, service: step.service, container: op.name },
        ),
      ),
    );
    const rollout = graph.rollout(step.service);
    if (rollout) {
      const nudgeAll = () => afterReplace(spec.project, step.service, rollout.nudges, progress, routesOf);
      const { nudged } = await rollingReplace(slice, step, rollout, options, operation, progress, (name) => routeOfOp(step.service, name), rollout.nudges.length > 0 ? nudgeAll : undefined);
      if (!nudged) await nudgeAll();
    }
  };

  // Dependency order, so every dependency's promise exists before its dependants look it up.
  for (const step of ordered) {
    const running = runService(step);
    running.catch(() => undefined);
    converged.set(step.service, running);
    // Its containers were waited for as they were created: the final wait is that step.
    if (convergesThenWaits(step)) healthy.set(step.service, running);
  }
  await settleAll([...converged.values()]);

  if (options.wait) {
    const finalWaits = ordered.filter((s) => graphOf(s.service).finalWaits.has(s.service)).map((s) => waitFor(healthy, s.service, 'healthy', true));
    await settleAll(finalWaits);
  }
  // Waits that only a dependant started must also have settled before we report.
  await settleAll([...healthy.values(), ...completed.values()]);

  for (const part of parts) {
    for (const op of graphs.get(part)!.orphans()) {
      await progress.step(`remove ${op.name} (${op.cause})${onHost(part.host)}`, () => part.route.docker.removeContainer({ name: op.name, id: op.containerId }), {
        key: `op:${op.name}`,
        container: op.name,
      });
    }
  }
}

function applyOperation(spec: StackSpec, step: ServiceStep, op: ContainerOperation, operation: string, options: ApplyOptions, { docker }: Route): Promise<unknown> {
  const service = spec.services[step.service];
  const stopTimeoutSec = stopTimeout(service);
  switch (op.action) {
    case 'remove':
      return docker.removeContainer({ name: op.name, id: op.containerId, stopTimeoutSec });
    case 'restart':
      return docker.restartContainer({ service: step.service, name: op.name, stopTimeoutSec });
    case 'create':
    case 'recreate':
    case 'start':
      return docker.convergeContainer(convergeInput(spec, step, op, operation, options));
  }
}

/** The failure type to report: the first ApplicationFailure type in the chain. */
export function failureType(err: unknown, fallback: string): string {
  return firstFailureType(err) ?? fallback;
}
