/**
 * restore: put a backup's data sets back.
 *
 *   resolve the project's spec → read the manifest and check every data set
 *   in it against the spec → select data sets → read every archive back and
 *   compare checksums (nothing is touched before this passes) → stop the
 *   project's containers that mount them → restore each data set →
 *   [compensation: settle any data set left half-way, start the containers
 *   again] → wait for health
 *
 * Restoring a data set never destroys the only copy (src/backup/restore-swap.ts):
 * the archive is extracted beside the old contents, verified, then swapped
 * in by renames; a retried attempt finishes or discards what an earlier one
 * left. When the restore stops for good, the settle step brings each data
 * set it touched to exactly its old or exactly its restored contents. The
 * containers are started again whatever happens, inside a scope
 * cancellation cannot reach.
 */
import { RestoreInput } from '../src/model/backup-input';
import type { StackSpec } from '../src/model/spec';
import { parseWorkflowInput } from './input';
import { trackOperation } from './progress';
import { docker } from './apply';
import { acquireProjectLock } from './lock';
import { resolveStack } from './data-common';
import { restoreBackupAcrossHosts } from './data-hosts';
import { isPatched } from './patches';
import { planRestoreRun, type DataDryRun } from './data-dry-run';
import { runRestore, type RestoreResult } from './restore-run';

/** The restore's result type, imported from here by the CLI and the tests. */
export type { RestoreResult };

/** Restore resolves the project's spec and checks the manifest against it before reading the backup. */
export const RESTORE_SPEC_PATCH = 'dockflow-restore-spec';

export async function restore(rawInput: unknown): Promise<RestoreResult | DataDryRun> {
  const { progress, input } = trackOperation('restore', () => parseWorkflowInput(RestoreInput, rawInput, 'restore'), (i) => i.project);
  progress.project = input.project;
  // Reads only, and takes no lock: every other restore goes on below with the commands it always issued.
  if (input.dryRun) return planRestoreRun(input, progress);
  await acquireProjectLock(input.project, 'restore', input.waitForLock, progress);
  // Only an input that names hosts goes there: every other restore runs below, as it always did.
  if (input.hosts) return restoreBackupAcrossHosts({ ...input, hosts: input.hosts }, progress);
  let spec: StackSpec | undefined;
  if (isPatched(RESTORE_SPEC_PATCH)) ({ spec } = await resolveStack(input, progress));
  const manifest = await progress.step(`read backup ${input.backupId} of ${input.project}`, () =>
    docker.readBackup({ project: input.project, backupId: input.backupId, destination: input.destination, ...(spec ? { spec } : {}) }),
  );
  const result = await runRestore(
    { project: input.project, manifest, spec, volumes: input.volumes, destination: input.destination, healthTimeoutSeconds: input.healthTimeoutSeconds },
    progress,
  );
  progress.phase('done');
  return result;
}
