/**
 * What the executor (apply.ts) and the rolling replacement (rolling.ts)
 * share: the options an operation runs with, the failure of a rollout past
 * its max_failure_ratio, a container step's activity input, its stop and
 * health budgets, and settling promises without leaving any behind. Both
 * import it; it imports neither, so the two stay out of an import cycle.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ServiceSpec, StackSpec } from '../src/model/spec';
import type { ContainerOperation, ServiceStep } from '../src/plan/deploy-plan';
import type { RolloutOverrides, RolloutSettings } from '../src/plan/rollout';
import { OperationFailure } from '../src/errors';
import type { ConvergeInput } from '../activities/docker';

export interface ApplyOptions {
  removeOrphans: boolean;
  /** Wait for every service with a healthcheck to be healthy. */
  wait: boolean;
  healthTimeoutSeconds?: number;
  /** Overrides of update_config from the command line (`dockflow update --parallelism ...`). */
  rollout?: RolloutOverrides;
  /** Roll with rollback_config instead of update_config (when undoing a failed change). */
  rollingBack?: boolean;
  /**
   * Recreated containers get fresh anonymous volumes and the old ones are
   * removed (compose's `-V/--renew-anon-volumes`). Default false: a
   * replacement takes over its predecessor's anonymous volumes.
   */
  renewAnonVolumes?: boolean;
}

/**
 * A rolling replacement whose failures exceeded max_failure_ratio. The
 * caller decides what failure_action means for it (rollback needs the
 * previous revision, which only the caller knows).
 */
export class RolloutFailure extends ApplicationFailure {
  constructor(
    readonly service: string,
    readonly failureAction: RolloutSettings['failureAction'],
    readonly causeMessage: string,
  ) {
    // An ApplicationFailure, so that if it escapes it fails the workflow instead of retrying its task forever.
    super(`service ${service}: update failed (${causeMessage})`, OperationFailure.rolloutFailed, true);
  }
}

export function convergeInput(spec: StackSpec, step: ServiceStep, op: ContainerOperation, operation: string, options: ApplyOptions): ConvergeInput {
  return {
    spec,
    service: step.service,
    number: op.number,
    configHash: step.configHash,
    imageId: step.imageId,
    operation,
    action: op.action as 'create' | 'recreate' | 'start',
    oneShot: step.oneShot,
    // Only when asked, so the activity input of every other run stays as it was.
    ...(options.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
  };
}

export function stopTimeout(service: ServiceSpec): number | undefined {
  return service.stopGracePeriodMs !== undefined ? Math.ceil(service.stopGracePeriodMs / 1000) : undefined;
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
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
