/**
 * rollback --with-data: put a project back to revision N's images and to the
 * data revision N ran on, in one workflow.
 *
 *   nothing changes in this part; every failure here is non-retryable and leaves the project as it was:
 *     choose revision N's backup (src/backup/revision-backup.ts) → read its
 *     manifest and check every data set against revision N's spec →
 *     revision N can run (policy, image IDs on the host) → the host
 *     directories it writes are allowed → read every archive back and
 *     compare checksums
 *   → back up the current data of those data sets (reason "rollback",
 *     linked to the current revision: `rollback --to <current> --with-data`
 *     goes forward again)
 *   everything from here is undone on failure or cancellation:
 *     stop the containers that mount them → restore each data set (the
 *     restore swap: the current contents stay until the restored copy is
 *     verified) → revision N's containers (exact image IDs, rolling, started
 *     on the restored data) → record a revision
 *   undo (a scope cancellation cannot reach): settle each data set touched,
 *   restore the copy taken above into it the same way, put the current
 *   revision's containers back.
 *
 * Data first, then images: neither version's containers ever start on the
 * other version's data (the containers that mount it are stopped while it is
 * replaced, and the revision's own containers are the first to start on it).
 * A worker killed anywhere is replaced by one that replays to the same step:
 * every step is an idempotent activity, so the rollback goes on to its end.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { Revision } from '../src/model/revision';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import { ManifestError, manifestLabel, refuseHostCopies, trustedRestoreEntries } from '../src/backup/manifest-check';
import { backupForRevision, backupsOfRevision } from '../src/backup/revision-backup';
import { BackupPlanError, helperImages, mountsTarget, startOrder, type DataContainer } from '../src/backup/plan';
import { formatPlan, type DeployPlan } from '../src/plan/deploy-plan';
import { ErrorType, OperationFailure } from '../src/errors';
import type { RollbackInput } from '../src/model/input';
import type { z } from 'zod';
import { rootMessage, type ProgressTracker } from './progress';
import { docker, failureType } from './apply';
import { archives, LOCAL_DATA, type DataRoute } from './data-route';
import { onHost } from './routes';
import { startAgain } from './data-common';
import { runBackup } from './backup-run';
import type { AcrossHosts } from './backup-share';
import { checkDataPolicyNow } from './policy';
import { changedServices, checkRevisionRunnable, recordRevision, restoreRevision, revisionImageIds } from './revisions';

type RollbackOptions = z.output<typeof RollbackInput>;

export interface RollbackWithDataResult {
  project: string;
  restored: number;
  revision: number;
  plan: string;
  /** The backup whose data was put back. */
  dataBackup: string;
  /** The backup of the data it replaced (linked to the revision that was current). */
  safetyBackup: string;
  /** Data sets put back. */
  dataSets: string[];
}

/**
 * Replace the data sets' contents with a backup's while no container uses
 * them: the running containers that mount one are stopped (they stay
 * stopped: restoreRevision starts the revision's containers afterwards).
 * A restore that stops part-way settles every data set it touched, so each
 * holds exactly its old or its restored contents, then rethrows. Returns the
 * containers as they were, and the data sets it touched.
 */
export async function replaceData(
  project: string,
  backupId: string,
  entries: ArchiveEntry[],
  destination: string | undefined,
  operation: string,
  touched: ArchiveEntry[],
  progress: ProgressTracker,
  route: DataRoute = LOCAL_DATA,
): Promise<DataContainer[]> {
  // One host's share: the route of its worker (a single host: this workflow's own queue, as always).
  const { docker, archives } = route;
  const on = onHost(route.name);
  const containers = await progress.step(`observe containers of ${project}${on}`, () => docker.observeDataContainers(project));
  const users = startOrder(containers.filter((c) => !c.oneoff && c.running && entries.some((e) => mountsTarget(c, e))));
  const imagesFor = (entry: ArchiveEntry) => [...helperImages(entry, containers), ...(entry.images ?? [])];
  try {
    if (users.length > 0) {
      const refs = users.map((c) => ({ id: c.id, name: c.name }));
      await progress.step(`stop ${refs.map((r) => r.name).join(', ')}${on}`, () => docker.stopContainers({ project, containers: [...refs].reverse() }));
    }
    for (const entry of entries) {
      if (!touched.some((t) => t.key === entry.key)) touched.push(entry);
      await progress.step(`restore ${entry.kind} ${entry.key} from backup ${backupId}${on}`, () =>
        archives.restoreTarget({ project, backupId, operation, destination, entry, images: imagesFor(entry) }),
      );
    }
  } catch (err) {
    await CancellationScope.nonCancellable(async () => {
      for (const entry of entries.filter((e) => touched.some((t) => t.key === e.key))) {
        // A committed copy is swapped in, a staging copy discarded: whole contents either way.
        await progress.step(`settle ${entry.kind} ${entry.key}${on}`, () => archives.settleRestore({ project, operation, entry, images: imagesFor(entry) })).catch(() => undefined);
      }
    });
    throw err;
  }
  return containers;
}

/**
 * Archive the data about to be replaced (the same data sets, where revision
 * N's spec puts them; across hosts, each on its host): it is what the undo
 * puts back, and what a later rollback to the current revision restores. A
 * failure here leaves the project as it was (the backup undid its own steps).
 */
export async function backUpDataToReplace(target: Revision, current: Revision, keys: string[], destination: string | undefined, progress: ProgressTracker, across?: AcrossHosts): Promise<BackupManifest> {
  progress.phase('backing up the current data');
  try {
    const taken = await runBackup(
      { spec: target.spec, revision: current.number, selection: { volumes: keys }, destination, retention: {}, reason: 'rollback', allowEmpty: false, ...(across ? { across } : {}) },
      progress,
    );
    return taken!.manifest;
  } catch (err) {
    if (isCancellation(err)) throw err;
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(
      `rollback of ${target.project} to revision ${target.number} with data: backing up the current data failed, so nothing was changed: ${rootMessage(err)}`,
      failureType(err, OperationFailure.rollbackFailed),
    );
  }
}

/** The failure a rollback with data ends with once its undo ran: what failed, and what the undo did or could not do. */
export function undone(err: unknown, problems: string[], target: Revision, current: Revision, safetyId: string, where: string, progress: ProgressTracker): Error {
  const outcome = problems.length
    ? `; undoing it failed too: ${problems.join('; ')}`
    : `; the data (from backup ${safetyId}) and revision ${current.number}'s containers were put back${where}`;
  const summary = `rollback of ${target.project} to revision ${target.number} with data ${isCancellation(err) ? 'was cancelled' : `failed: ${rootMessage(err)}`}${outcome}`;
  progress.phase(isCancellation(err) ? summary : 'failed');
  if (isCancellation(err)) return new CancelledFailure(summary);
  return ApplicationFailure.nonRetryable(summary, failureType(err, OperationFailure.rollbackFailed));
}

export async function rollbackWithData(input: RollbackOptions, revisions: Revision[], current: Revision, target: Revision, progress: ProgressTracker): Promise<RollbackWithDataResult> {
  const { project, destination } = input;
  const operation = workflowInfo().workflowId;

  progress.phase('checking');
  const listing = await progress.step(`find the backup of revision ${target.number}'s data`, () => docker.listBackups({ project, destination }));
  const chosen = backupForRevision(target, listing.backups);
  if (!chosen) {
    const withBackup = revisions.filter((r) => backupsOfRevision(r, listing.backups).length > 0).map((r) => r.number);
    throw ApplicationFailure.nonRetryable(
      `project ${project} has no backup of revision ${target.number}'s data in ${listing.destination}; nothing was changed. ` +
        (withBackup.length > 0 ? `Revisions with one: ${withBackup.join(', ')} (dockflow history -p ${project}). ` : 'No revision has one. ') +
        `Roll back the images only with dockflow rollback -p ${project} --to ${target.number}`,
      ErrorType.backupNotFound,
    );
  }
  const manifest: BackupManifest = await progress.step(`read backup ${chosen.id} of ${project}`, () =>
    docker.readBackup({ project, backupId: chosen.id, destination, spec: target.spec }),
  );
  let entries: ArchiveEntry[];
  try {
    // Paths, names and volume definitions from revision N's spec; the manifest only contributes sizes and checksums.
    entries = trustedRestoreEntries(manifest, target.spec, manifestLabel(project, chosen.id, listing.destination));
    // On this workflow's own host, a backup of host copies (taken across hosts) has no place.
    refuseHostCopies(entries, manifestLabel(project, chosen.id, listing.destination));
  } catch (err) {
    if (err instanceof ManifestError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.backupCorrupt);
    if (err instanceof BackupPlanError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.invalidSpec);
    throw err;
  }
  await checkRevisionRunnable(target, progress);
  const binds = entries.filter((e) => e.kind === 'bind').map((e) => ({ key: `archive ${e.archive} (${e.key})`, source: e.source }));
  await checkDataPolicyNow(progress, { project, operation: `rollback with data of backup ${chosen.id}`, paths: binds });
  await progress.step(`verify ${entries.length} archive(s) of backup ${chosen.id}`, () =>
    archives.verifyArchives({ project, backupId: chosen.id, destination, archives: entries, checksumOnly: true }),
  );

  const safety = await backUpDataToReplace(target, current, entries.map((e) => e.key), destination, progress);
  const safetyEntries = trustedRestoreEntries(safety, target.spec, manifestLabel(project, safety.id, listing.destination));

  const touched: ArchiveEntry[] = [];
  let before: DataContainer[] = [];
  let plan: DeployPlan;
  try {
    progress.phase(`restoring the data of revision ${target.number} from backup ${chosen.id}`);
    before = await replaceData(project, chosen.id, entries, destination, operation, touched, progress);
    progress.phase(`restoring the containers of revision ${target.number}`);
    plan = await restoreRevision(target, progress, input.healthTimeoutSeconds, input.renewAnonVolumes);
  } catch (err) {
    progress.phase('undoing: putting the data and the containers back as they were');
    const problems: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      const undo = safetyEntries.filter((e) => touched.some((t) => t.key === e.key));
      if (undo.length > 0) {
        try {
          // Its own restore ID: whatever the forward restore left in a data set is settled, never taken for this copy.
          await replaceData(project, safety.id, undo, destination, `${operation}/undo`, [], progress);
        } catch (undoErr) {
          problems.push(`putting the data back failed (${rootMessage(undoErr)}); restore it with dockflow restore -p ${project} ${safety.id}`);
        }
      }
      try {
        await restoreRevision(current, progress, input.healthTimeoutSeconds);
      } catch (undoErr) {
        problems.push(`putting revision ${current.number}'s containers back failed (${rootMessage(undoErr)})`);
        await startAgain(project, before, [], progress).catch(() => undefined);
      }
      await docker.removeHelpers({ project, operation });
      await docker.removeHelpers({ project, operation: `${operation}/undo` });
    });
    throw undone(err, problems, target, current, safety.id, '', progress);
  }
  await docker.removeHelpers({ project, operation });
  const revision = await recordRevision(progress, {
    project,
    operation: 'rollback',
    spec: target.spec,
    imageIds: revisionImageIds(target),
    changed: changedServices(plan),
    restoredFrom: target.number,
  });
  progress.phase('done');
  return {
    project,
    restored: target.number,
    revision: revision.number,
    plan: formatPlan(plan),
    dataBackup: chosen.id,
    safetyBackup: safety.id,
    dataSets: entries.map((e) => e.key),
  };
}
