/**
 * Docker and file side effects of backups, restores and migrations, one
 * module per resource:
 *
 * - archives.ts: create an archive of a data set, verify a backup's archives;
 * - archive-read.ts: read an archive back (checksum, decompression, tree);
 * - manifests.ts: write, list, read and delete backups by their manifest;
 * - restore.ts: the restore swap, its settle step, helper clean-up;
 * - data-containers.ts: the containers mounting the data, stop/start, hooks;
 * - one-off.ts: a service's one-off containers (migrations, deploy hooks);
 * - context.ts: what they share (settings, destination and entry checks);
 * - docker-common.ts: the Docker helpers they share.
 *
 * Each activity is idempotent through deterministic names (src/backup/ids.ts):
 *
 * - an archive is written to `<file>.partial-<workflow>-a<attempt>` and
 *   renamed when complete; a retry deletes earlier attempts' partial files,
 *   and reuses the archive when an earlier attempt already renamed it;
 * - helper containers (created, never started for a backup; started only to
 *   clear a data set for a restore) have a name per workflow and data set,
 *   so a retry reuses or replaces its own and never another's;
 * - a migration's one-off container is started only if it never started, so
 *   a retried attempt re-attaches to it and waits for its exit.
 *
 * Data moves through the Docker API (GET/PUT /containers/{id}/archive) as a
 * stream: tar from Docker → gzip → sha256 → file, never whole in memory.
 *
 * The activity names (the keys of the object createBackupActivities returns)
 * are what recorded histories replay by: a module may move, a name may not.
 */
import { createBackupContext, destinationFailuresAreFinal, type BackupActivityDeps } from './context';
import { createArchiveActivities } from './archives';
import { createManifestActivities } from './manifests';
import { createRestoreActivities } from './restore';
import { createDataContainerActivities } from './data-containers';
import { createOneOffActivities } from './one-off';

export { HELPER_LABEL, RoundTripRegistry, defaultBackupDir, type BackupActivityDeps } from './context';
export { ONE_OFF_LABEL, type OneOffInput, type WaitOneOffResult } from './one-off';
export type { ArchiveTargetInput, ArchiveResult, VerifyInput } from './archives';
export type { HookResult } from './data-containers';

export function createBackupActivities(deps: BackupActivityDeps) {
  const ctx = createBackupContext(deps);
  return destinationFailuresAreFinal({
    ...createDataContainerActivities(ctx),
    ...createArchiveActivities(ctx),
    ...createManifestActivities(ctx),
    ...createRestoreActivities(ctx),
    ...createOneOffActivities(ctx),
  });
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
