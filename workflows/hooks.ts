/**
 * Deploy hooks (src/model/hooks.ts) as workflow steps: each hook runs in a
 * one-off container of its service (workflows/one-off.ts), exactly once per
 * operation, with a time limit; its output becomes progress lines, its start
 * an activity with a `pre_deploy hook ...` summary in the UI's timeline.
 *
 * deploy and update call them: pre_deploy after the plan and before any
 * container changes (a failure aborts with no container touched),
 * post_deploy after the plan ran and the stack is healthy (a failure follows
 * the service's failure_action). Rollbacks run no hooks.
 *
 * Across hosts (workflows/hosts.ts) each hook runs on the host that runs its
 * service, through that host's route; a single-host operation passes no
 * HookHosts and issues exactly the commands it always did.
 */
import { ApplicationFailure, CancellationScope, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { StackSpec } from '../src/model/spec';
import { HookSettingsError, hookEnvironment, hooksToRun, stackHooks, type DeployHook, type DeployHookPhase, type HookContext } from '../src/model/hooks';
import { hookContainerName } from '../src/backup/ids';
import { tailLines } from '../src/backup/output';
import { rolloutSettings, type RolloutOverrides, type RolloutSettings } from '../src/plan/rollout';
import { ErrorType, HOOK_CONTINUE_WARNING } from '../src/errors';
import type { ProgressTracker } from './progress';
import { LOCAL, docker, onHost, type Route } from './apply';
import { runOneOff } from './one-off';
import { isPatched } from './patches';

/** Across hosts: where each service runs, each host's route and its part of the stack (its networks and volumes). */
export interface HookHosts {
  hostOf: Record<string, string>;
  routeOf: (host: string) => Route;
  partOf: (host: string) => StackSpec;
}

/** patched() ID of deploy hooks in deploy and update (docs/workflow-changes.md). */
export const HOOKS_PATCH = 'dockflow-deploy-hooks';

/** The stack's hooks, checked; a bad one fails the operation at once, before anything is touched. */
export function readHooks(spec: StackSpec): DeployHook[] {
  try {
    return stackHooks(spec);
  } catch (err) {
    if (err instanceof HookSettingsError) throw ApplicationFailure.nonRetryable(`invalid hooks in project ${spec.project}:\n${err.message}`, ErrorType.invalidSpec);
    throw err;
  }
}

export interface HookPlan {
  pre: DeployHook[];
  post: DeployHook[];
  /** Whether this run executes them: false for histories recorded before hooks existed. */
  enabled: boolean;
}

/** The hooks of both phases this operation runs, given the services its plan changes. */
export function planHooks(hooks: DeployHook[], changed: string[], anythingChanged: boolean, dryRun = false): HookPlan {
  const pre = hooksToRun(hooks, 'pre_deploy', changed, anythingChanged);
  const post = hooksToRun(hooks, 'post_deploy', changed, anythingChanged);
  // Only a run with hooks to execute looks at the patch: runs without any issue the commands they always did.
  const enabled = !dryRun && pre.length + post.length > 0 && isPatched(HOOKS_PATCH);
  return { pre, post, enabled };
}

/**
 * A post_deploy hook failed. Like a failed rollout, its service's
 * failure_action decides what follows (rollback: the previous revision is
 * put back; pause: the operation fails, the new revision stays; continue: a
 * warning).
 */
export class HookFailure extends ApplicationFailure {
  constructor(
    readonly hook: DeployHook,
    readonly failureAction: RolloutSettings['failureAction'],
    message: string,
  ) {
    super(message, ErrorType.deployHookFailed, true);
  }
}

/**
 * Run hooks one after the other, each to its exit. The first that fails
 * (non-zero exit, time limit) ends the phase with a HookFailure; its
 * container is kept for `docker logs`. A successful hook's container is
 * removed. Cancelled while a hook runs, the hook's container is stopped
 * before the cancellation goes on.
 */
export async function runHooks(
  phase: DeployHookPhase,
  hooks: DeployHook[],
  spec: StackSpec,
  imageIds: Record<string, string>,
  context: Omit<HookContext, 'workflowId'>,
  progress: ProgressTracker,
  rollout?: RolloutOverrides,
  across?: HookHosts,
): Promise<void> {
  if (hooks.length === 0) return;
  const workflowId = workflowInfo().workflowId;
  progress.phase(`${phase} hooks`);
  if (phase === 'pre_deploy') {
    // The one-off containers attach to the service's networks and mount its volumes; a first deploy has
    // none yet. Creating them is what `docker compose run` does too; no container of the stack changes.
    if (!across) await progress.step('ensure networks and volumes', () => docker.ensureNetworksAndVolumes(spec));
    else {
      // Only the hosts that run a hook, each with its own part: a network or volume exists where its services run.
      for (const host of [...new Set(hooks.map((h) => across.hostOf[h.service]))].sort()) {
        await progress.step(`ensure networks and volumes on ${host}`, () => across.routeOf(host).docker.ensureNetworksAndVolumes(across.partOf(host)));
      }
    }
  }
  for (const hook of hooks) {
    const name = hookContainerName(spec.project, hook.service, phase, workflowId, hook.origin);
    const host = across?.hostOf[hook.service];
    const route: Route & { name?: string } = across && host !== undefined ? { ...across.routeOf(host), name: host } : LOCAL;
    let outcome;
    try {
      outcome = await runOneOff(
        spec,
        {
          service: hook.service,
          imageId: imageIds[hook.service],
          name,
          kind: phase,
          command: hook.command,
          label: `${phase} hook`,
          env: hookEnvironment(hook, { ...context, workflowId }),
          deadline: Date.now() + hook.timeoutMs,
        },
        workflowId,
        progress,
        route,
      );
    } catch (err) {
      // A hook left running after its operation ended would race whatever comes next (the compensation, the next deploy).
      if (isCancellation(err)) await CancellationScope.nonCancellable(() => route.docker.stopOneOff({ name }));
      throw err;
    }
    if (!outcome.timedOut && outcome.exitCode === 0) {
      await route.docker.removeContainer({ name });
      continue;
    }
    const why = outcome.timedOut ? `did not finish within its timeout (${hook.timeoutMs / 1000} s)` : `exited with code ${outcome.exitCode}`;
    const removal = `remove it with docker rm -f ${name} or dockflow down -p ${spec.project}`;
    const kept = outcome.tail
      ? `. Last lines of ${name} (kept for docker logs; ${removal}):\n${tailLines(outcome.tail, 20)}`
      : `. ${name} is kept for docker logs; ${removal}`;
    const failureAction = rolloutSettings(spec.services[hook.service].deploy.updateConfig, rollout).failureAction;
    throw new HookFailure(hook, failureAction, `${phase} hook of service ${hook.service} (${hook.origin})${onHost(host)} ${why}${kept}`);
  }
}

/** pre_deploy of a deploy or update: a failed hook fails the operation, with no container changed. */
export async function runPreDeployHooks(
  hooksRun: HookPlan,
  spec: StackSpec,
  imageIds: Record<string, string>,
  context: Omit<HookContext, 'workflowId'>,
  progress: ProgressTracker,
  rollout?: RolloutOverrides,
  across?: HookHosts,
): Promise<void> {
  if (!hooksRun.enabled) return;
  try {
    await runHooks('pre_deploy', hooksRun.pre, spec, imageIds, context, progress, rollout, across);
  } catch (err) {
    if (!(err instanceof HookFailure)) throw err;
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`${context.operation} of ${spec.project} stopped before changing any container: ${err.message}`, err.type);
  }
}

/**
 * post_deploy of a deploy or update. A failure whose failure_action is
 * rollback (or a cancellation, or any other error) is thrown for the
 * caller's failAfterRollback; pause and continue are returned, to be settled
 * by settlePostDeploy once the revision is recorded: the host runs it.
 */
export async function runPostDeployHooks(
  hooksRun: HookPlan,
  spec: StackSpec,
  imageIds: Record<string, string>,
  context: Omit<HookContext, 'workflowId'>,
  progress: ProgressTracker,
  rollout?: RolloutOverrides,
  across?: HookHosts,
): Promise<HookFailure | undefined> {
  if (!hooksRun.enabled) return undefined;
  try {
    await runHooks('post_deploy', hooksRun.post, spec, imageIds, context, progress, rollout, across);
    return undefined;
  } catch (err) {
    if (err instanceof HookFailure && err.failureAction !== 'rollback') return err;
    throw err;
  }
}

/** failure_action pause fails the operation (its revision stays recorded); continue leaves a warning. */
export function settlePostDeploy(problem: HookFailure | undefined, operation: string, project: string, revision: number, warnings: string[], progress: ProgressTracker): void {
  if (!problem) return;
  if (problem.failureAction === 'continue') {
    warnings.push(`${HOOK_CONTINUE_WARNING}${problem.message}`);
    return;
  }
  progress.phase('failed');
  throw ApplicationFailure.nonRetryable(
    `${operation} of ${project} failed (failure_action pause: revision ${revision} is recorded and runs; dockflow rollback -p ${project} puts the previous one back): ${problem.message}`,
    problem.type,
  );
}
