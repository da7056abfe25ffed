/**
 * The restore itself, shared by the restore workflow, migrate (as its
 * compensation) and the restore across hosts (data-hosts.ts): check, stop
 * the data's users, restore each data set, then (whatever happened, in a
 * scope the cancellation cannot reach) settle what a stopped restore left
 * half-way and start the containers again. Apart from restore.ts, so that
 * data-hosts.ts and migrate use it without importing the workflow that
 * imports them.
 */
import { ApplicationFailure, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { StackSpec } from '../src/model/spec';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import { ManifestError, refuseHostCopies, trustedRestoreEntries } from '../src/backup/manifest-check';
import { helperImages, mountsTarget, selectArchives, startOrder, type DataContainer } from '../src/backup/plan';
import { ErrorType, OperationFailure } from '../src/errors';
import { rootMessage, type ProgressTracker } from './progress';
import { failureType, onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { invalid, startAgain } from './data-common';
import { checkDataPolicyNow } from './policy';
import { Compensations } from './compensations';
import { isPatched } from './patches';

/** A restore that stopped settles every data set it touched (finish or discard the swap). */
export const RESTORE_SETTLE_PATCH = 'dockflow-restore-settle';

/** Health wait after the restore when the caller gives no bound. */
const DEFAULT_HEALTH_TIMEOUT_S = 120;

export interface RestoreResult {
  project: string;
  backupId: string;
  /** Keys of the data sets put back. */
  restored: string[];
  /** Containers stopped for the restore and started again. */
  restarted: string[];
}

export interface RunRestoreOptions {
  project: string;
  manifest: BackupManifest;
  /** The project's spec: every data set of the manifest must be one of its data sets. Absent only when replaying histories from before the check. */
  spec?: StackSpec;
  volumes: string[];
  destination?: string;
  healthTimeoutSeconds?: number;
  /** Where the data sets are: default this workflow's own host, as always; across hosts, the one host they were taken on. */
  route?: DataRoute;
  /** The caller already checked the policy and read every archive back (across hosts: on every host, before any is touched). */
  checked?: boolean;
}

/** The restore itself, shared by restore and migrate (as its compensation); the caller holds the project lock. */
export async function runRestore(options: RunRestoreOptions, progress: ProgressTracker): Promise<RestoreResult> {
  const { project, manifest } = options;
  const route = options.route ?? LOCAL_DATA;
  const on = onHost(route.name);
  const backupId = manifest.id;
  const operation = workflowInfo().workflowId;
  let entries: ArchiveEntry[];
  try {
    const chosen = selectArchives(manifest, options.volumes);
    // Paths, names and volume definitions from the spec; the manifest only contributes sizes and checksums.
    entries = options.spec ? trustedRestoreEntries(manifest, options.spec, `manifest of backup ${backupId} of project ${project}`, chosen) : chosen;
    // On this workflow's own host, a backup of host copies (taken across hosts) has no place.
    if (!options.route) refuseHostCopies(entries, `manifest of backup ${backupId} of project ${project}`);
  } catch (err) {
    if (err instanceof ManifestError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.backupCorrupt);
    throw invalid(err, project);
  }
  if (!options.checked) await checkRestorable(project, backupId, entries, options.destination, route, progress);

  progress.phase(`restoring backup ${backupId} of ${project}`);
  const containers = await progress.step(`observe containers of ${project}${on}`, () => route.docker.observeDataContainers(project));
  const users = restoreUsers(containers, entries);
  const refs = users.map((c) => ({ id: c.id, name: c.name }));
  const imagesFor = (entry: ArchiveEntry) => [...helperImages(entry, containers), ...(entry.images ?? [])];
  const touched: ArchiveEntry[] = [];
  // The restore's undo (compensations.ts), run whatever the outcome. Registered first, so it runs
  // last: the helper containers the restore steps started go; failing that fails the restore.
  const undo = new Compensations();
  undo.push({ title: 'remove helpers', onFailure: 'abort', run: () => route.docker.removeHelpers({ project, operation }) });
  // Registered before any stop: every container that ran before starts again, not only the data's
  // users (a daemon restart meanwhile stops them all).
  undo.push({ title: 'start the containers again', run: () => startAgain(project, containers, users, progress, route) });
  let failure: unknown;
  try {
    if (refs.length > 0) {
      await progress.step(`stop ${refs.map((r) => r.name).join(', ')}${on}`, () => route.docker.stopContainers({ project, containers: [...refs].reverse() }));
    }
    for (const entry of entries) {
      touched.push(entry);
      await progress.step(`restore ${entry.kind} ${entry.key} from ${entry.archive}${on}`, () =>
        route.archives.restoreTarget({ project, backupId, operation, destination: options.destination, entry, images: imagesFor(entry) }),
      );
    }
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined && touched.length > 0) {
    // The data set being restored when it stopped holds a staging copy or a swap half-way: a
    // verified copy is swapped in, anything else discarded, before its users start again. Each in
    // the order it was restored; one that fails does not keep the others from settling.
    undo.push({
      title: 'settle the data sets touched',
      run: async () => {
        if (!isPatched(RESTORE_SETTLE_PATCH)) return;
        for (const entry of touched) {
          await undo.attempt(`settle ${entry.kind} ${entry.key}`, () =>
            progress.step(`settle ${entry.kind} ${entry.key}${on}`, () => route.archives.settleRestore({ project, operation, entry, images: imagesFor(entry) })),
          );
        }
      },
    });
  }
  await undo.run();
  const undoProblems = undo.messages;
  if (failure !== undefined) {
    const also = undoProblems.length ? `; also: ${undoProblems.join('; ')}` : '';
    if (isCancellation(failure)) {
      const summary = `restore of backup ${backupId} of ${project} was cancelled part-way; each data set holds its old or its restored contents: run the restore again to restore them all${also}`;
      progress.phase(summary);
      throw new CancelledFailure(summary);
    }
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(
      `restore of backup ${backupId} of ${project} failed: ${rootMessage(failure)}. The containers were started again; run the restore again to finish it${also}`,
      failureType(failure, OperationFailure.restoreFailed),
    );
  }
  if (undoProblems.length > 0) {
    throw ApplicationFailure.nonRetryable(`restore of backup ${backupId} of ${project}: data restored, but starting the containers failed: ${undoProblems.join('; ')}`, OperationFailure.restoreFailed);
  }
  const budgetMs = (options.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_S) * 1000;
  await Promise.all(
    users
      .filter((c) => c.hasHealthcheck)
      .map((c) => progress.step(`wait healthy ${c.name}${on}`, () => route.waits.waitHealthy({ service: c.service, name: c.name, budgetMs }))),
  );
  return { project, backupId, restored: entries.map((e) => e.key), restarted: refs.map((r) => r.name) };
}

/** The containers a restore stops (and starts again): running ones that mount a data set it puts back, in start order. */
export function restoreUsers(containers: DataContainer[], entries: ArchiveEntry[]): DataContainer[] {
  return startOrder(containers.filter((c) => !c.oneoff && c.running && entries.some((e) => mountsTarget(c, e))));
}

/**
 * What a restore checks before it touches anything: the policy of the host
 * for the bind-mounted directories it writes, and every archive read back
 * and compared with its checksum.
 */
export async function checkRestorable(project: string, backupId: string, entries: ArchiveEntry[], destination: string | undefined, route: DataRoute, progress: ProgressTracker): Promise<void> {
  // A restore writes into bind-mounted host directories: only where the worker's policy allows them now.
  const binds = entries.filter((e) => e.kind === 'bind').map((e) => ({ key: `archive ${e.archive} (${e.key})`, source: e.source }));
  await checkDataPolicyNow(progress, { project, operation: `restore of backup ${backupId}`, paths: binds }, route);
  await progress.step(`verify ${entries.length} archive(s) of backup ${backupId}${onHost(route.name)}`, () =>
    route.archives.verifyArchives({ project, backupId, destination, archives: entries, checksumOnly: true }),
  );
}
