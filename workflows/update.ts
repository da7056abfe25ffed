/**
 * update: change one service of a deployed project (image, replica count) and
 * roll it out with its update_config, overridable per call. Starts from the
 * project's current revision in the host's ledger.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { UpdateInput } from '../src/model/input';
import { serviceSlice } from '../src/model/slice';
import { countOperations, formatPlan } from '../src/plan/deploy-plan';
import { planGraph } from '../src/plan/graph';
import { ErrorType } from '../src/errors';
import { parseWorkflowInput } from './input';
import { trackOperation } from './progress';
import { executePlan, host, images, observeAndPlan } from './apply';
import { changedServices, failAfterRollback, recordRevision, revisionImageIds } from './revisions';
import { acquireProjectLock } from './lock';
import { checkPolicyNow } from './policy';
import { planHooks, readHooks, runPostDeployHooks, runPreDeployHooks, settlePostDeploy } from './hooks';
import { planWithHooks } from '../src/model/hooks';
import { updatedSpec } from './update-spec';
import { updateAcrossHosts } from './hosts';
import { placeOnOneHost } from './host-routes';
import type { UpdateResult } from './results';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import type { DeployHook } from '../src/model/hooks';
import type { ProgressTracker } from './progress';

type UpdateOptions = z.output<typeof UpdateInput>;

/** The result type, imported from here by the CLI and the tests. */
export type { UpdateResult };

export async function update(rawInput: unknown): Promise<UpdateResult> {
  const { progress, input } = trackOperation('update', () => parseWorkflowInput(UpdateInput, rawInput, 'update'), (i) => i.project);
  progress.project = input.project;
  // A path only an input with "dryRun": true takes (no recorded history reaches it): reads only, no lock.
  if (input.dryRun) return planUpdate(input, progress);
  await acquireProjectLock(input.project, 'update', input.waitForLock, progress);
  // Only an input that names hosts goes there: every other update runs below, as it always did.
  if (input.hosts) return updateAcrossHosts({ ...input, hosts: input.hosts }, progress);

  const { current, spec, imageIds, hooks } = await updateFromCurrent(input, progress);
  if (input.image !== undefined) {
    imageIds[input.service] = (await progress.step(`pull ${input.image}`, () =>
      images.ensureImage({ spec: serviceSlice(spec, input.service), service: input.service, forceBuild: false, lookupOnly: false }),
    ))!;
  }

  progress.phase('executing');
  const plan = await observeAndPlan(spec, imageIds, false, progress);
  const hooksRun = planHooks(hooks, changedServices(plan), countOperations(plan) > 0);
  const hookContext = { project: input.project, operation: 'update' as const, revision: current.number + 1, previousRevision: current.number };
  await runPreDeployHooks(hooksRun, spec, imageIds, hookContext, progress, input.rollout);
  if (hooksRun.enabled) progress.phase('executing');
  let hookProblem;
  try {
    await executePlan(
      spec,
      plan,
      { removeOrphans: false, wait: true, rollout: input.rollout, healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes },
      progress,
    );
    hookProblem = await runPostDeployHooks(hooksRun, spec, imageIds, hookContext, progress, input.rollout);
  } catch (err) {
    return failAfterRollback('update', input.project, err, current, progress);
  }
  const revision = await recordRevision(progress, { project: input.project, operation: 'update', spec, imageIds, changed: changedServices(plan) });
  const warnings: string[] = [];
  settlePostDeploy(hookProblem, 'update', input.project, revision.number, warnings, progress);
  progress.phase('done');
  return {
    project: input.project,
    service: input.service,
    plan: planWithHooks(formatPlan(plan), hooksRun.pre, hooksRun.post),
    revision: revision.number,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * What an update (or its dry run) starts from: the current revision in the
 * host's ledger with the one service changed, its image IDs, its hooks, and
 * the worker's policy checked against it. Reads only.
 */
async function updateFromCurrent(input: UpdateOptions, progress: ProgressTracker): Promise<{ current: Revision; spec: StackSpec; imageIds: Record<string, string>; hooks: DeployHook[] }> {
  const current = await host.getRevision({ project: input.project });
  if (!current) {
    throw ApplicationFailure.nonRetryable(`project ${input.project} has no revision in this host's ledger: deploy it with dockflow deploy first`, ErrorType.invalidSpec);
  }
  const spec = updatedSpec(current, input);
  // Pure: a revision's hooks passed the loader, but a revision recorded before hooks were checked may hold a bad one.
  const hooks = readHooks(spec);
  // Pure: a scale past max_replicas_per_node is refused before anything starts.
  placeOnOneHost(spec);
  // The revision passed the policy when it was recorded; the policy may have been tightened since.
  await checkPolicyNow(progress, spec, current.number);
  return { current, spec, imageIds: revisionImageIds(current), hooks };
}

/**
 * update --dry-run: the same checks and plan as the update (current revision,
 * the changed spec, the worker's policy, the image looked up but not pulled,
 * the host observed), returned as the graph of every step it would take,
 * rollout batches and fallbacks included. Takes no lock and changes nothing.
 * Across hosts, updateAcrossHosts returns every host's graph the same way.
 */
async function planUpdate(input: UpdateOptions, progress: ProgressTracker): Promise<UpdateResult> {
  // Across hosts: every host's graph, from the ledgers that answer (its dry-run branch comes before any change).
  if (input.hosts) return updateAcrossHosts({ ...input, hosts: input.hosts }, progress);
  const { current, spec, imageIds, hooks } = await updateFromCurrent(input, progress);
  if (input.image !== undefined) {
    const found = await progress.step(`inspect ${input.image}`, () =>
      images.ensureImage({ spec: serviceSlice(spec, input.service), service: input.service, forceBuild: false, lookupOnly: true }),
    );
    // An image that is not on the host yet counts as changed, as in deploy --dry-run.
    imageIds[input.service] = found ?? `unresolved:${input.image}`;
  }
  progress.phase('planning');
  const plan = await observeAndPlan(spec, imageIds, false, progress);
  const operations = countOperations(plan);
  const hooksRun = planHooks(hooks, changedServices(plan), operations > 0, true);
  progress.phase('done');
  return {
    project: input.project,
    service: input.service,
    dryRun: true,
    plan: planWithHooks(formatPlan(plan), hooksRun.pre, hooksRun.post),
    graph: planWithHooks(planGraph(spec, plan, { wait: true, rollout: input.rollout }).toString(), hooksRun.pre, hooksRun.post),
    operations,
    revision: current.number,
  };
}
