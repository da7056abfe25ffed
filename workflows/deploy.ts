/**
 * deploy: bring a project on the host to its compose files' state.
 *
 * observe → plan → execute (workflows/apply.ts). The plan comes from the same
 * pure function that `dockflow deploy --dry-run` prints. Every Docker action
 * is an idempotent activity, so a worker that dies anywhere in here is
 * replaced by another that replays this function and finishes the same plan.
 * A successful change is recorded as a revision in the host's ledger.
 */
import { DeployInput } from '../src/model/input';
import { countOperations, formatPlan } from '../src/plan/deploy-plan';
import { planGraph } from '../src/plan/graph';
import { parseWorkflowInput } from './input';
import { trackOperation } from './progress';
import { executePlan, host, images, observeAndPlan } from './apply';
import { fewerRoundTrips, quick } from './round-trips';
import { changedServices, failAfterRollback, loadDeploySpec, recordRevision } from './revisions';
import { acquireProjectLock } from './lock';
import { deployAcrossHosts } from './hosts';
import { placeOnOneHost } from './host-routes';
import { planHooks, readHooks, runPostDeployHooks, runPreDeployHooks, settlePostDeploy } from './hooks';
import { describeHook, planWithHooks } from '../src/model/hooks';
import type { DeployResult } from './results';

/** The result type, imported from here by the CLI and the tests. */
export type { DeployResult };

export async function deploy(rawInput: unknown): Promise<DeployResult> {
  // An inline spec names its project at once; compose files name it once loaded (below).
  const { progress, input } = trackOperation('deploy', () => parseWorkflowInput(DeployInput, rawInput, 'deploy'), (i) => i.spec?.project);
  // Only an input that names hosts goes there: every other deploy runs below, as it always did.
  if (input.hosts) return deployAcrossHosts({ ...input, hosts: input.hosts }, progress);

  progress.phase('loading');
  // Short steps on this host run as local activities in runs started after that change (round-trips.ts).
  const { host: hostSteps, images: imageSteps } = fewerRoundTrips() ? quick : { host, images };
  const { spec, warnings } = await loadDeploySpec(input, hostSteps, 'load compose files', progress);
  progress.project = spec.project;
  // Pure: an inline spec (the UI, the CLI) did not necessarily come through the loader that checks hooks.
  const hooks = readHooks(spec);
  placeOnOneHost(spec);
  // The worker's policy (capabilities, Docker socket, bind roots) before anything is touched.
  await progress.step("check the worker's policy", () => hostSteps.checkPolicy(spec));
  // A dry run changes nothing, so it needs no lock.
  if (!input.dryRun) await acquireProjectLock(spec.project, 'deploy', input.waitForLock, progress);

  progress.phase('images');
  // One activity for every image (a step, three history events), not one per service.
  const names = Object.keys(spec.services).sort();
  const what = [...new Set(names.map((name) => `${input.dryRun ? 'inspect' : spec.services[name].build ? 'build' : 'pull'} ${spec.services[name].image}`))];
  const resolved = await progress.step(`images: ${what.join(', ')}`, () =>
    imageSteps.ensureImages({ spec, services: names, forceBuild: input.build, lookupOnly: input.dryRun }),
  );
  // In a dry run an image that is not there yet counts as changed.
  const imageIds: Record<string, string> = Object.fromEntries(names.map((name) => [name, resolved[name] ?? `unresolved:${spec.services[name].image}`]));

  progress.phase('planning');
  const plan = await observeAndPlan(spec, imageIds, input.removeOrphans, progress);
  const operations = countOperations(plan);
  const hooksRun = planHooks(hooks, changedServices(plan), operations > 0, input.dryRun);
  const result: DeployResult = {
    project: spec.project,
    dryRun: input.dryRun,
    plan: planWithHooks(formatPlan(plan), hooksRun.pre, hooksRun.post),
    graph: planWithHooks(planGraph(spec, plan, { wait: input.wait }).toString(), hooksRun.pre, hooksRun.post),
    operations,
    services: Object.fromEntries(plan.services.map((s) => [s.service, s.containers])),
    warnings: [...warnings, ...plan.notes],
    ...(hooksRun.pre.length + hooksRun.post.length > 0 ? { hooks: [...hooksRun.pre, ...hooksRun.post].map(describeHook) } : {}),
  };
  if (input.dryRun) {
    progress.phase('done');
    return result;
  }

  const previous = await hostSteps.getRevision({ project: spec.project });
  const hookContext = { project: spec.project, operation: 'deploy' as const, revision: (previous?.number ?? 0) + 1, previousRevision: previous?.number };
  await runPreDeployHooks(hooksRun, spec, imageIds, hookContext, progress);
  progress.phase('executing');
  let hookProblem;
  try {
    await executePlan(
      spec,
      plan,
      { removeOrphans: input.removeOrphans, wait: input.wait, healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes },
      progress,
    );
    hookProblem = await runPostDeployHooks(hooksRun, spec, imageIds, hookContext, progress);
  } catch (err) {
    return failAfterRollback('deploy', spec.project, err, previous, progress);
  }
  // An unchanged redeploy is not a new revision.
  const revision =
    result.operations > 0 || !previous
      ? await recordRevision(progress, { project: spec.project, operation: 'deploy', spec, imageIds, changed: changedServices(plan) })
      : previous;
  settlePostDeploy(hookProblem, 'deploy', spec.project, revision.number, result.warnings, progress);
  progress.phase('done');
  // The last progress goes with the result: the CLI prints its last lines from it instead of querying the
  // closed workflow (a replay of its whole history on a worker). A payload, not a command: replay is unchanged.
  return { ...result, revision: revision.number, finalProgress: progress.current };
}
