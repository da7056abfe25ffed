/**
 * `dockflow backup --dry-run` and `dockflow restore --dry-run`: the plan per
 * host, and nothing changed.
 *
 * A dry run makes the same pure decisions as the operation (the plan, its
 * split by host, the refusals of a silent or unregistered host, the manifest
 * checked against the stack) and only reads: each host's ledger, the
 * backup's manifest, the project's containers, the destination's listing
 * and the worker's data policy. It takes no project lock, stops nothing,
 * writes no archive, manifest or ledger entry and creates no helper
 * container. The backup ID of a backup's dry run is the one a backup started
 * at the same moment would have had: every run names its own from its start
 * time and workflow ID (src/backup/ids.ts).
 *
 * Only inputs with `dryRun` come here, before the lock; every other
 * operation issues exactly the commands it always did.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { BackupOptions, RestoreOptions } from '../src/model/backup-input';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import { ManifestError, refuseHostCopies, trustedRestoreEntries } from '../src/backup/manifest-check';
import { backupIdFor } from '../src/backup/ids';
import { planBackup, selectArchives } from '../src/backup/plan';
import type { StackSpec } from '../src/model/spec';
import type { Revision } from '../src/model/revision';
import { shellQuote } from '../src/backup/output';
import { hasRetentionRule, retentionOf, selectForPruning } from '../src/backup/retention';
import { ErrorType } from '../src/errors';
import type { ProgressTracker } from './progress';
import { HOST_SILENCE_SECONDS, onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { invalid, resolveStack } from './data-common';
import { checkDataPolicyNow } from './policy';
import { containersToStop, shares, type AcrossHosts } from './backup-share';
import { nothingToBackUp } from './backup-run';
import { restoreUsers } from './restore-run';
import { across, checkBackupHosts, readManifestAcrossHosts, restoreShares, stackOnHosts } from './data-hosts';

/** One host's part of a data operation's plan. */
export interface DataHostPlan {
  /** The host's name; absent on a single host. */
  host?: string;
  /** Where the backups are on it, e.g. "local directory /var/lib/dockflow/backups". */
  destination: string;
  /** "volume data", "bind mount ./data": archived (backup) or put back (restore) on this host. */
  dataSets: string[];
  /** Containers stopped meanwhile and started again afterwards, in stop order. */
  stop: string[];
  /** Backup hooks that would run there: "pre hook of service db: pg_dump …". */
  hooks: string[];
  /** Older backups retention would delete there afterwards (backup only). */
  prune: string[];
}

export interface DataDryRun {
  dryRun: true;
  operation: 'backup' | 'restore';
  project: string;
  /** Restore: the backup put back. Backup: the ID a backup started now would have (each run names its own). */
  backupId: string;
  /** The project's revision the backup would be linked to (backup only). */
  revision?: number;
  hosts: DataHostPlan[];
  /** Registered hosts with no part in it. */
  untouched?: string[];
}

/** "volume data", or for one host's copy of a spread service's data set "volume data (this host's copy, volume-data.on-host-1.tar.gz)". */
const describe = (sets: { kind: 'volume' | 'bind'; key: string; hostCopy?: true; archive: string }[]) =>
  sets.map((s) => `${s.kind === 'volume' ? 'volume' : 'bind mount'} ${s.key}${s.hostCopy ? ` (this host's copy, ${s.archive})` : ''}`);

/** What every host's part reads: the policy for its bind mounts, its containers, the destination's listing. */
async function readHost(
  route: DataRoute,
  project: string,
  destination: string | undefined,
  policy: { operation: string; projectDir?: string; paths: { key: string; source: string }[] },
  progress: ProgressTracker,
) {
  await checkDataPolicyNow(progress, { project, ...policy }, route);
  const on = onHost(route.name);
  const containers = await progress.step(`observe containers of ${project}${on}`, () => route.docker.observeDataContainers(project));
  const listing = await progress.step(`list backups of ${project}${on}`, () => route.docker.listBackups({ project, destination }));
  return { containers, listing };
}

export async function planBackupRun(input: BackupOptions, progress: ProgressTracker): Promise<DataDryRun> {
  progress.phase('planning (dry run: nothing is changed)');
  const selection = { volumes: input.volumes, services: input.services };
  let source: { spec: StackSpec; revision?: Revision };
  let crossing: AcrossHosts | undefined;
  let registered: string[] = [];
  if (input.hosts) {
    const stack = await stackOnHosts({ ...input, hosts: input.hosts }, progress);
    checkBackupHosts(stack, selection, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS);
    source = stack;
    crossing = across(stack);
    registered = stack.registered;
  } else {
    source = await resolveStack(input, progress);
  }
  const { spec } = source;
  const info = workflowInfo();
  const backupId = backupIdFor(info.startTime, info.workflowId);
  let parts: ReturnType<typeof shares>;
  try {
    const plan = planBackup(spec, selection);
    if (plan.targets.length === 0) throw nothingToBackUp(spec);
    parts = shares(plan, crossing);
  } catch (err) {
    throw invalid(err, spec.project);
  }
  const retention = retentionOf(input);
  const hosts: DataHostPlan[] = [];
  for (const { route, plan } of parts) {
    const binds = plan.targets.filter((t) => t.kind === 'bind').map((t) => ({ key: `bind mount ${t.key}`, source: t.source }));
    const { containers, listing } = await readHost(route, spec.project, input.destination, { operation: 'backup', projectDir: spec.workingDir, paths: binds }, progress);
    const now = Date.now();
    const prune = hasRetentionRule(retention)
      ? selectForPruning([...listing.backups.map((b) => ({ id: b.id, createdAt: b.createdAt, verified: true })), { id: backupId, createdAt: new Date(now).toISOString(), verified: true }], retention, now, [backupId]).remove
      : [];
    hosts.push({
      ...(route.name !== undefined ? { host: route.name } : {}),
      destination: listing.destination,
      dataSets: describe(plan.targets),
      stop: [...containersToStop(plan, containers)].reverse().map((c) => c.name),
      hooks: [...plan.pre, ...plan.post].map((h) => `${h.phase} hook of service ${h.service}: ${shellQuote(h.command)}`),
      prune,
    });
  }
  progress.phase('done (dry run: nothing was changed)');
  const untouched = registered.filter((h) => !hosts.some((p) => p.host === h));
  return {
    dryRun: true,
    operation: 'backup',
    project: spec.project,
    backupId,
    ...(source.revision ? { revision: source.revision.number } : {}),
    hosts,
    ...(untouched.length ? { untouched } : {}),
  };
}

export async function planRestoreRun(input: RestoreOptions, progress: ProgressTracker): Promise<DataDryRun> {
  progress.phase('planning (dry run: nothing is changed)');
  let project = input.project;
  let manifest: BackupManifest;
  let parts: { route: DataRoute; entries: ArchiveEntry[] }[];
  let registered: string[] = [];
  if (input.hosts) {
    const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
    const stack = await stackOnHosts({ ...input, hosts: input.hosts }, progress);
    manifest = await readManifestAcrossHosts(stack, input, seconds, progress);
    const { byHost, hosts } = restoreShares(stack, manifest, input.volumes, seconds);
    parts = hosts.map((h) => ({ route: stack.routeOf(h), entries: byHost.get(h)! }));
    registered = stack.registered;
    project = stack.spec.project;
  } else {
    const { spec } = await resolveStack(input, progress);
    const read = await progress.step(`read backup ${input.backupId} of ${input.project}`, () =>
      LOCAL_DATA.docker.readBackup({ project: input.project, backupId: input.backupId, destination: input.destination, spec }),
    );
    manifest = read;
    let entries: ArchiveEntry[];
    try {
      entries = trustedRestoreEntries(read, spec, `manifest of backup ${read.id} of project ${project}`, selectArchives(read, input.volumes));
      refuseHostCopies(entries, `manifest of backup ${read.id} of project ${project}`);
    } catch (err) {
      if (err instanceof ManifestError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.backupCorrupt);
      throw invalid(err, project);
    }
    parts = [{ route: LOCAL_DATA, entries }];
  }
  const hosts: DataHostPlan[] = [];
  for (const { route, entries } of parts) {
    const binds = entries.filter((e) => e.kind === 'bind').map((e) => ({ key: `archive ${e.archive} (${e.key})`, source: e.source }));
    const { containers, listing } = await readHost(route, project, input.destination, { operation: `restore of backup ${manifest.id}`, paths: binds }, progress);
    hosts.push({
      ...(route.name !== undefined ? { host: route.name } : {}),
      destination: listing.destination,
      dataSets: describe(entries),
      stop: [...restoreUsers(containers, entries)].reverse().map((c) => c.name),
      hooks: [],
      prune: [],
    });
  }
  progress.phase('done (dry run: nothing was changed)');
  const untouched = registered.filter((h) => !hosts.some((p) => p.host === h));
  return { dryRun: true, operation: 'restore', project, backupId: manifest.id, hosts, ...(untouched.length ? { untouched } : {}) };
}
