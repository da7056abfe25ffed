/**
 * The worker's policy as it stands now, checked by every operation that
 * creates containers or touches data, not only by the deploy that first
 * brought a stack: update, rollback (and the automatic rollback of a failed
 * or cancelled change) reuse a recorded revision, and a revision recorded
 * under a looser policy must not run again once the policy was tightened.
 * Backups and restores read and write bind-mounted host directories, which
 * must lie where the policy allows.
 */
import type { StackSpec } from '../src/model/spec';
import type { DataPolicyInput } from '../activities/policy';
import { host } from './apply';
import type { ProgressTracker } from './progress';
import { isPatched } from './patches';

/**
 * Operations started before these checks existed have no such activity in
 * their history; the patch marker keeps their replay deterministic.
 */
export const POLICY_PATCH = 'dockflow-policy-every-operation';

/** Check a (revision's) spec against the policy now; `revision` names it in the refusal. */
export async function checkPolicyNow(progress: ProgressTracker, spec: StackSpec, revision?: number): Promise<void> {
  if (!isPatched(POLICY_PATCH)) return;
  await progress.step(`check the worker's policy${revision !== undefined ? ` for revision ${revision}` : ''}`, () =>
    host.checkPolicy(spec, revision !== undefined ? { revision } : {}),
  );
}

/** Check the host directories a backup reads or a restore writes (on `on`'s host, default this worker's); nothing to check without any. */
export async function checkDataPolicyNow(progress: ProgressTracker, input: DataPolicyInput, on: { host: typeof host; name?: string } = { host }): Promise<void> {
  if (input.paths.length === 0 || !isPatched(POLICY_PATCH)) return;
  const whose = on.name === undefined ? "the worker's policy" : `the policy of ${on.name}`;
  await progress.step(`check ${whose} for ${input.paths.map((p) => p.source).join(', ')}`, () => on.host.checkDataPolicy(input));
}
