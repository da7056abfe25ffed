/**
 * backup: archive a project's data sets (named volumes, bind-mounted data
 * directories), verified, into a destination; `backups` lists them.
 *
 *   plan (pure) → pre hooks → stop marked services → archive each data set
 *   → read every archive back and compare checksums → [compensation: start
 *   the services again, post hooks] → manifest → retention → ledger link
 *
 * The compensation runs on success, failure and cancellation alike, inside a
 * scope the cancellation cannot reach. Because this is a workflow, a worker
 * that dies mid-archive is replaced by another that replays to the same
 * point: the archive activity is retried and, whatever happens to it, the
 * stopped services are started again. Only terminating the workflow (which
 * runs no code at all) can skip that.
 */
import { ListBackupsInput, BackupInput, type BackupOptions } from '../src/model/backup-input';
import type { BackupSummary } from '../src/backup/manifest';
import { retentionOf } from '../src/backup/retention';
import { parseWorkflowInput } from './input';
import { trackOperation, type ProgressTracker } from './progress';
import { docker, host } from './apply';
import type { HostInfo } from '../src/model/hosts';
import { acquireProjectLock } from './lock';
import { backupAcrossHosts } from './data-hosts';
import { resolveStack } from './data-common';
import { runBackup, type BackupResult } from './backup-run';
import { planBackupRun, type DataDryRun } from './data-dry-run';

/** The backup's result type, imported from here by the CLI and the tests. */
export type { BackupResult, DataDryRun };

export async function backup(rawInput: unknown): Promise<BackupResult | DataDryRun> {
  const { progress, input } = trackOperation('backup', (): BackupOptions => parseWorkflowInput(BackupInput, rawInput, 'backup'), (i) => i.project);
  progress.project = input.project;
  // Reads only, and takes no lock: every other backup goes on below with the commands it always issued.
  if (input.dryRun) return planBackupRun({ ...input, hosts: input.hosts ?? (input.lookUpHosts ? await registeredHostsNow(progress) : undefined) }, progress);
  // One lock per project, whatever the hosts: it covers them all.
  await acquireProjectLock(input.project, 'backup', input.waitForLock, progress);
  // A scheduled backup looks the hosts up at each run; none registered is a single-host setup.
  const hosts = input.hosts ?? (input.lookUpHosts ? await registeredHostsNow(progress) : undefined);
  // Only an input that names hosts (or looks them up) goes there: every other backup runs below, as it always did.
  if (hosts) return backupAcrossHosts({ ...input, hosts }, progress);
  const { spec, revision } = await resolveStack(input, progress);
  const taken = await runBackup(
    {
      spec,
      revision: revision?.number,
      selection: { volumes: input.volumes, services: input.services },
      destination: input.destination,
      retention: retentionOf(input),
      reason: input.reason,
      allowEmpty: false,
      encrypt: input.encrypt,
    },
    progress,
  );
  progress.phase('done');
  return taken!.result;
}

/** The registered hosts, or undefined when there are none. */
async function registeredHostsNow(progress: ProgressTracker): Promise<HostInfo[] | undefined> {
  const hosts = await progress.step('look up the registered hosts', () => host.registeredHosts());
  return hosts.length > 0 ? hosts : undefined;
}

export interface BackupListing {
  project: string;
  destination: string;
  backups: BackupSummary[];
  /** Backup directories without a manifest: in progress, or left by a workflow that was terminated. */
  incomplete: string[];
  /** Folders whose name or manifest failed the checks (src/backup/manifest-check.ts), with why: never restored or pruned. */
  rejected?: string[];
}

/** `dockflow backups`: the project's complete backups, oldest first. Changes nothing, takes no lock. */
export async function backups(rawInput: unknown): Promise<BackupListing> {
  const input = parseWorkflowInput(ListBackupsInput, rawInput, 'backups');
  const listing = await docker.listBackups({ project: input.project, destination: input.destination });
  return { project: input.project, ...listing };
}
