/**
 * Rolling replacement of a service's changed containers, as the plan graph
 * (src/plan/graph.ts) lays it out: its order (with the start-first →
 * stop-first fallback), its batches and its after_replace nudges (per batch or
 * once) come from there; this file runs them, with each batch's health gates,
 * monitor window and failure ratio.
 */
import { ApplicationFailure, isCancellation, sleep } from '@temporalio/workflow';
import type { StackSpec } from '../src/model/spec';
import { containerName, replacementName } from '../src/model/names';
import { drainMs } from '../src/model/extensions';
import type { ContainerOperation, ServiceStep } from '../src/plan/deploy-plan';
import type { RolloutSettings } from '../src/plan/rollout';
import type { AfterReplaceAction } from '../src/model/extensions';
import { describeAfterReplace, type Rollout } from '../src/plan/graph';
import { ErrorType } from '../src/errors';
import { rootMessage, type ProgressTracker } from './progress';
import { convergeInput, RolloutFailure, settleAll, stopTimeout, waitBudgetMs, type ApplyOptions } from './apply-common';
import { HostSilent, type Route } from './routes';
import { isPatched } from './patches';

/**
 * Replace a service's changed containers in batches of `parallelism`, with
 * `delay` between batches, honouring `order`, `monitor`,
 * `max_failure_ratio` and `failure_action`.
 */
export async function rollingReplace(
  spec: StackSpec,
  step: ServiceStep,
  { decision, batches, nudgePerBatch }: Rollout,
  options: ApplyOptions,
  operation: string,
  progress: ProgressTracker,
  /** The host of each container: one for a service on one host, each replica's own for a spread service (a batch may span hosts). */
  routeOf: (container: string) => Route,
  nudgeDependants?: () => Promise<void>,
): Promise<{ nudged: boolean }> {
  const service = spec.services[step.service];
  // The plan graph decided the order (and any fallback); a refusal fails here, where the rollout would start.
  if (decision.refusal) throw ApplicationFailure.nonRetryable(decision.refusal, ErrorType.invalidSpec);
  const { settings, order } = decision;
  const total = batches.reduce((n, batch) => n + batch.length, 0);
  const budgetMs = waitBudgetMs(service, options.healthTimeoutSeconds);
  const drain = drainMs(service);
  // Old containers drain and stop in the background while later batches proceed: they no longer serve.
  const retirements: Promise<unknown>[] = [];
  const retire = (retiring: string, { docker }: Route) => {
    const retirement = progress.step(`drain and remove ${retiring}`, async () => {
      await sleep(drain);
      await docker.removeContainer({ name: retiring, stopTimeoutSec: stopTimeout(service), ...renewedVolumesGo(options) });
    }, { service: step.service, container: retiring });
    retirement.catch(() => undefined);
    retirements.push(retirement);
  };
  // A proxy that resolved the service's address at start (nginx) still sends to the old
  // containers after they left service discovery: it is nudged (after_replace) while they
  // still answer, and only then do they drain and go. Retired first, they would leave the
  // proxy pointing at nothing until the nudge: 502s. Stop-first has no such window to use.
  // The graph nudges per batch exactly for start-first with after_replace actions.
  const nudgeBeforeRetiring = nudgePerBatch && nudgeDependants !== undefined && isPatched('dockflow-after-replace-before-retire');
  let nudged = false;
  let failures = 0;
  let firstFailure = '';
  try {
    for (const [index, batch] of batches.entries()) {
      const retiringInBatch: [string, Route][] = [];
      const results = await Promise.allSettled(
        batch.map((op) =>
          progress.step(`${order} replace ${op.name} (${op.cause})`, async () => {
            const route = routeOf(op.name);
            if (order === 'stop-first') return replaceStopFirst(spec, step, op, settings, budgetMs, operation, options, route);
            const retiring = await replaceStartFirst(spec, step, op, settings, budgetMs, operation, options, route);
            if (retiring && nudgeBeforeRetiring) retiringInBatch.push([retiring, route]);
            else if (retiring) retire(retiring, route);
          }, { key: `op:${op.name}`, service: step.service, container: op.name }),
        ),
      );
      if (retiringInBatch.length > 0) {
        try {
          await nudgeDependants!();
          nudged = true;
        } finally {
          // Nudged or not (a cancellation, a failed nudge), the old containers go.
          for (const [retiring, route] of retiringInBatch) retire(retiring, route);
        }
      }
      for (const r of results) {
        // A cancellation is not a failed container: it goes up to the compensation.
        if (r.status === 'rejected' && isCancellation(r.reason)) throw r.reason;
        // Nor is a host whose worker went silent (only across hosts): the caller leaves that host out of the undo.
        if (r.status === 'rejected' && r.reason instanceof HostSilent) throw r.reason;
      }
      for (const r of results) {
        if (r.status === 'rejected') {
          failures += 1;
          firstFailure ||= rootMessage(r.reason);
        }
      }
      if (failures / total > settings.maxFailureRatio && settings.failureAction !== 'continue') {
        throw new RolloutFailure(step.service, settings.failureAction, firstFailure);
      }
      if (settings.delayMs > 0 && index < batches.length - 1) await sleep(settings.delayMs);
    }
  } finally {
    await Promise.allSettled(retirements);
  }
  await settleAll(retirements);
  return { nudged };
}

/**
 * start-first for one container: the replacement starts beside the old one
 * without the service alias, passes its health gate and monitor window,
 * takes the alias, and only then does the old one leave service discovery.
 * Returns the old container's retiring name, still to be drained and removed.
 */
async function replaceStartFirst(
  spec: StackSpec,
  step: ServiceStep,
  op: ContainerOperation,
  settings: RolloutSettings,
  budgetMs: number,
  operation: string,
  options: ApplyOptions,
  route: Route,
): Promise<string | undefined> {
  const { docker } = route;
  const next = replacementName(containerName(spec.project, spec.services[step.service], op.number), step.configHash);
  try {
    await docker.startReplacement(convergeInput(spec, step, op, operation, options));
    await gate(step, next, settings, budgetMs, route);
  } catch (err) {
    // The old container never stopped serving: dropping the replacement (created, started
    // or not) is the whole undo.
    // Volumes it took over stay: the old container still mounts them, and Docker refuses
    // to remove a volume in use. Renewed ones were its own.
    if (!isCancellation(err)) await docker.removeContainer({ name: next, ...renewedVolumesGo(options) });
    throw err;
  }
  const target = { spec, service: step.service, number: op.number, configHash: step.configHash };
  await docker.promoteReplacement(target);
  const { retiring } = await docker.swapNames(target);
  return retiring;
}

async function replaceStopFirst(
  spec: StackSpec,
  step: ServiceStep,
  op: ContainerOperation,
  settings: RolloutSettings,
  budgetMs: number,
  operation: string,
  options: ApplyOptions,
  route: Route,
): Promise<void> {
  const container = await route.docker.convergeContainer(convergeInput(spec, step, op, operation, options));
  await gate(step, container.name, settings, budgetMs, route);
}

/**
 * With renewed anonymous volumes, a container leaving for good takes its
 * anonymous volumes with it; otherwise they stay, as compose leaves them.
 */
function renewedVolumesGo(options: ApplyOptions): { anonymousVolumes?: true } {
  return options.renewAnonVolumes ? { anonymousVolumes: true } : {};
}

/** Health gate then monitor window: the new container must be healthy and stay so. */
async function gate(step: ServiceStep, name: string, settings: RolloutSettings, budgetMs: number, route: Route): Promise<void> {
  if (step.hasHealthcheck) await route.waits.waitHealthy({ service: step.service, name, budgetMs });
  if (settings.monitorMs > 0) await sleep(settings.monitorMs);
  await route.docker.checkContainer({ service: step.service, name, budgetMs });
}


/**
 * x-dockflow.after_replace: e.g. SIGHUP nginx, whose upstream IP just changed.
 * `actions` are the graph's (src/plan/graph.ts). `routesOf` names every host
 * that runs the target: one, or each host of a spread service's replicas,
 * nudged one after another.
 */
export async function afterReplace(
  project: string,
  serviceName: string,
  actions: AfterReplaceAction[],
  progress: ProgressTracker,
  routesOf: (service: string) => Route[],
): Promise<void> {
  for (const action of actions) {
    const what = `${describeAfterReplace(action)} ${action.service}`;
    await progress.step(`${what} (after ${serviceName} was replaced)`, async () => {
      for (const route of routesOf(action.service)) {
        await route.docker.nudgeService({
          project,
          service: action.service,
          ...('signal' in action ? { signal: action.signal } : { restart: true }),
        });
      }
    });
  }
}

