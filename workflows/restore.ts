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
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import { RestoreInput } from '../src/model/backup-input';
import type { StackSpec } from '../src/model/spec';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import { ManifestError, trustedRestoreEntries } from '../src/backup/manifest-check';
import { helperImages, mountsTarget, selectArchives, startOrder, type DataContainer } from '../src/backup/plan';
import { ErrorType, OperationFailure } from '../src/errors';
import { parseWorkflowInput } from './input';
import { type ProgressTracker, rootMessage, trackOperation } from './progress';
import { docker, failureType, onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { acquireProjectLock } from './lock';
import { invalid, resolveStack, startAgain } from './data-common';
import { checkDataPolicyNow } from './policy';
import { restoreBackupAcrossHosts } from './data-hosts';
import { isPatched } from './patches';
import { planRestoreRun, type DataDryRun } from './data-dry-run';

/** Restore resolves the project's spec and checks the manifest against it before reading the backup. */
export const RESTORE_SPEC_PATCH = 'dockflow-restore-spec';
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
  const undoProblems: string[] = [];
  await CancellationScope.nonCancellable(async () => {
    if (failure !== undefined && touched.length > 0 && isPatched(RESTORE_SETTLE_PATCH)) {
      // The data set being restored when it stopped holds a staging copy or a swap half-way:
      // a verified copy is swapped in, anything else discarded, before its users start again.
      for (const entry of touched) {
        try {
          await progress.step(`settle ${entry.kind} ${entry.key}${on}`, () => route.archives.settleRestore({ project, operation, entry, images: imagesFor(entry) }));
        } catch (err) {
          undoProblems.push(rootMessage(err));
        }
      }
    }
    try {
      // Every container that ran before, not only the data's users: a daemon restart meanwhile stops them all.
      await startAgain(project, containers, users, progress, route);
    } catch (err) {
      undoProblems.push(rootMessage(err));
    }
    await route.docker.removeHelpers({ project, operation });
  });
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
