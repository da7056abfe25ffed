/**
 * deploy: bring a project on the host to its compose files' state.
 *
 * observe → plan → execute. The plan comes from the same pure function that
 * `dockflow deploy --dry-run` prints. Execution walks services in depends_on
 * order, independent services in parallel, and every Docker action is an
 * idempotent activity, so a worker that dies anywhere in here is replaced by
 * another that replays this function and finishes the same plan.
 */
import { ApplicationFailure, proxyActivities, workflowInfo, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DeployInput, formatZodError, type DeployOptions } from '../src/model/input';
import type { ServiceSpec, StackSpec } from '../src/model/spec';
import { serviceSlice } from '../src/model/slice';
import { countOperations, formatPlan, planDeploy, type ContainerOperation, type DeployPlan, type ServiceStep } from '../src/plan/deploy-plan';
import { ErrorType, NON_RETRYABLE_TYPES } from '../src/errors';
import { ProgressTracker, rootMessage } from './progress';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_TYPES };

/** Quick Docker calls: a hung daemon call is abandoned after 2 minutes and retried. */
const docker = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 10 },
});

/** Builds and pulls report progress as they go; silence for 5 minutes means a dead worker. */
const images = proxyActivities<Activities>({
  startToCloseTimeout: '60m',
  heartbeatTimeout: '5m',
  retry: { ...retry, maximumAttempts: 3 },
});

/**
 * Health and completion waits poll and heartbeat every poll interval; a short
 * heartbeat timeout lets a new worker take over a wait quickly after a crash.
 */
const waits = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 20 },
});

const loader = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 3 },
});

export interface DeployResult {
  project: string;
  dryRun: boolean;
  /** The plan as printed by --dry-run. */
  plan: string;
  operations: number;
  /** Canonical container names per service after the deploy. */
  services: Record<string, string[]>;
  warnings: string[];
}

export async function deploy(rawInput: unknown): Promise<DeployResult> {
  const progress = new ProgressTracker('deploy', '');
  const parsed = DeployInput.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid deploy input:\n${formatZodError(parsed.error)}`, ErrorType.invalidSpec);
  }
  const input = parsed.data;

  progress.phase('loading');
  const { spec, warnings } = input.spec
    ? { spec: input.spec, warnings: [] as string[] }
    : await progress.step('load compose files', () =>
        loader.loadProject({
          composeFiles: input.composeFiles!,
          project: input.project,
          profiles: input.profiles,
          envFiles: input.envFiles,
          projectDirectory: input.projectDirectory,
        }),
      );
  progress.project = spec.project;

  progress.phase('images');
  const serviceNames = Object.keys(spec.services).sort();
  const imageIds: Record<string, string> = {};
  await Promise.all(
    serviceNames.map(async (name) => {
      const service = spec.services[name];
      const verb = input.dryRun ? 'inspect' : service.build ? 'build' : 'pull';
      const id = await progress.step(`${verb} ${service.image}`, () =>
        images.ensureImage({ spec: serviceSlice(spec, name), service: name, forceBuild: input.build, lookupOnly: input.dryRun }),
      );
      // In a dry run an image that is not there yet counts as changed.
      imageIds[name] = id ?? `unresolved:${service.image}`;
    }),
  );

  progress.phase('planning');
  const observed = await progress.step(`observe project ${spec.project}`, () => docker.observeProject(spec.project));
  const plan = planDeploy(spec, observed, imageIds, { removeOrphans: input.removeOrphans });
  const result: DeployResult = {
    project: spec.project,
    dryRun: input.dryRun,
    plan: formatPlan(plan),
    operations: countOperations(plan),
    services: Object.fromEntries(plan.services.map((s) => [s.service, s.containers])),
    warnings: [...warnings, ...plan.notes],
  };
  if (input.dryRun) {
    progress.phase('done');
    return result;
  }

  progress.phase('executing');
  await progress.step('ensure networks and volumes', () => docker.ensureNetworksAndVolumes(spec));
  try {
    await executeServices(spec, plan, input, progress);
    for (const op of plan.orphans) {
      await progress.step(`remove ${op.name} (${op.cause})`, () => docker.removeContainer({ name: op.name, id: op.containerId }));
    }
  } catch (err) {
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`deploy of ${spec.project} failed: ${rootMessage(err)}`, failureType(err));
  }
  progress.phase('done');
  return result;
}

/**
 * Each service runs as soon as the services it depends on have met their
 * condition; waits are memoised so a service several others depend on is
 * waited for once.
 */
async function executeServices(spec: StackSpec, plan: DeployPlan, input: DeployOptions, progress: ProgressTracker): Promise<void> {
  const operation = workflowInfo().workflowId;
  const converged = new Map<string, Promise<void>>();
  const healthy = new Map<string, Promise<void>>();
  const completed = new Map<string, Promise<void>>();
  const steps = new Map(plan.services.map((s) => [s.service, s]));

  const waitFor = (cache: Map<string, Promise<void>>, service: string, kind: 'healthy' | 'completed'): Promise<void> => {
    let pending = cache.get(service);
    if (!pending) {
      pending = (async () => {
        await converged.get(service);
        const step = steps.get(service)!;
        const budgetMs = waitBudgetMs(spec.services[service], input.healthTimeoutSeconds);
        await Promise.all(
          step.containers.map((name) =>
            progress.step(`wait ${kind} ${name}`, () =>
              kind === 'healthy' ? waits.waitHealthy({ service, name, budgetMs }) : waits.waitCompleted({ service, name, budgetMs }),
            ),
          ),
        );
      })();
      // Marked handled here; settleAll at the end still reports the failure.
      pending.catch(() => undefined);
      cache.set(service, pending);
    }
    return pending;
  };

  const runService = async (step: ServiceStep): Promise<void> => {
    for (const [dep, d] of Object.entries(step.dependsOn)) {
      if (!steps.has(dep)) continue;
      if (d.condition === 'service_healthy') await waitFor(healthy, dep, 'healthy');
      else if (d.condition === 'service_completed_successfully') await waitFor(completed, dep, 'completed');
      else await converged.get(dep);
    }
    const slice = serviceSlice(spec, step.service);
    // Replicas of one service are independent of each other.
    await Promise.all(step.operations.map((op) => progress.step(`${op.action} ${op.name} (${op.cause})`, () => applyOperation(slice, step, op, operation))));
  };

  // Plan order is dependency order, so every dependency's promise exists before its dependants look it up.
  for (const step of plan.services) {
    const running = runService(step);
    running.catch(() => undefined);
    converged.set(step.service, running);
  }
  await settleAll([...converged.values()]);

  if (input.wait) {
    const finalWaits = plan.services
      .filter((s) => s.hasHealthcheck && !s.oneShot && s.containers.length > 0)
      .map((s) => waitFor(healthy, s.service, 'healthy'));
    await settleAll(finalWaits);
  }
  // Waits that only a dependant started must also have settled before we report.
  await settleAll([...healthy.values(), ...completed.values()]);
}

function applyOperation(spec: StackSpec, step: ServiceStep, op: ContainerOperation, operation: string): Promise<unknown> {
  const service = spec.services[step.service];
  const stopTimeoutSec = service.stopGracePeriodMs !== undefined ? Math.ceil(service.stopGracePeriodMs / 1000) : undefined;
  switch (op.action) {
    case 'remove':
      return docker.removeContainer({ name: op.name, id: op.containerId, stopTimeoutSec });
    case 'restart':
      return docker.restartContainer({ service: step.service, name: op.name, stopTimeoutSec });
    case 'create':
    case 'recreate':
    case 'start':
      return docker.convergeContainer({
        spec,
        service: step.service,
        number: op.number,
        configHash: step.configHash,
        imageId: step.imageId,
        operation,
        action: op.action,
        oneShot: step.oneShot,
      });
  }
}

/**
 * How long one container may take to become healthy: Docker's own verdict
 * arrives after start_period + retries × (interval + timeout); the budget adds
 * one more round and a margin so it only fires when Docker never decides.
 */
export function waitBudgetMs(service: ServiceSpec, overrideSeconds?: number): number {
  if (overrideSeconds !== undefined) return overrideSeconds * 1000;
  const hc = service.healthcheck;
  const interval = hc?.intervalMs || 30_000;
  const timeout = hc?.timeoutMs || 30_000;
  const retries = hc?.retries ?? 3;
  const startPeriod = hc?.startPeriodMs ?? 0;
  return startPeriod + (retries + 1) * (interval + timeout) + 30_000;
}

/** Wait for every promise, then throw the first failure: nothing is left running behind a failure. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function failureType(err: unknown): string {
  let current: unknown = err;
  while (typeof current === 'object' && current !== null) {
    const type = (current as { type?: string }).type;
    if (type) return type;
    current = (current as { cause?: unknown }).cause;
  }
  return 'DeployFailed';
}
