/**
 * The backup itself, shared by the backup and migrate workflows: plan, the
 * data policy asked on every host, each host's share (backup-share.ts), then
 * the manifest or the removal of an incomplete backup, retention and the
 * link in the ledger.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { StackSpec } from '../src/model/spec';
import { backupIdFor } from '../src/backup/ids';
import { MANIFEST_FORMAT, type ArchiveEntry, type BackupManifest, type BackupReason, type HookRecord } from '../src/backup/manifest';
import { planBackup, type BackupSelection, type DataContainer } from '../src/backup/plan';
import { hasRetentionRule, selectForPruning, type RetentionPolicy } from '../src/backup/retention';
import { ErrorType, OperationFailure } from '../src/errors';
import { rootMessage, type ProgressTracker } from './progress';
import { failureType, onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { checkDataPolicyNow } from './policy';
import { invalid } from './data-common';
import { archiveShare, shares, type AcrossHosts, type HostShare } from './backup-share';
import { Compensations } from './compensations';

export interface RunBackupOptions {
  spec: StackSpec;
  revision?: number;
  selection: BackupSelection;
  destination?: string;
  retention: RetentionPolicy;
  reason: BackupReason;
  migration?: { service: string; command: string[] };
  /** A migration of a service without data goes on without a backup; a plain backup of nothing is an error. */
  allowEmpty: boolean;
  /** Encrypt the archives with the worker's key. */
  encrypt?: boolean;
  /** Across hosts: where each data set lives (workflows/data-hosts.ts). Absent: everything on this workflow's own host, as always. */
  across?: AcrossHosts;
}

export interface BackupResult {
  project: string;
  backupId: string;
  /** Where it is, e.g. "local directory /var/lib/dockflow/backups". */
  destination: string;
  archives: { key: string; kind: 'volume' | 'bind'; archiveBytes: number; contentBytes: number; sha256: string; host?: string }[];
  /** Containers stopped during the backup and started again. */
  stopped: string[];
  /** Older backups deleted by retention. */
  pruned: string[];
  warnings: string[];
  revision?: number;
}

/**
 * The backup itself, shared by the backup and migrate workflows (the caller
 * holds the project lock). Returns undefined when there is nothing to back up
 * and `allowEmpty` is set. On one host it issues exactly the commands it
 * always did; across hosts each host's data sets are taken in turn, on it.
 */
export async function runBackup(options: RunBackupOptions, progress: ProgressTracker): Promise<{ result: BackupResult; manifest: BackupManifest } | undefined> {
  const { spec } = options;
  const project = spec.project;
  const info = workflowInfo();
  const operation = info.workflowId;
  const backupId = backupIdFor(info.startTime, operation);
  const createdAt = new Date(info.startTime).toISOString();

  let plan: ReturnType<typeof planBackup>;
  let parts: HostShare[];
  try {
    plan = planBackup(spec, options.selection);
    parts = shares(plan, options.across);
  } catch (err) {
    throw invalid(err, project);
  }
  if (plan.targets.length === 0) {
    if (options.allowEmpty) return undefined;
    throw nothingToBackUp(spec);
  }

  // Bind-mounted directories are read from the host: only where its worker's policy allows, as it is now.
  // Every host is asked before any is touched.
  for (const part of parts) {
    const binds = part.plan.targets.filter((t) => t.kind === 'bind').map((t) => ({ key: `bind mount ${t.key}`, source: t.source }));
    await checkDataPolicyNow(progress, { project, operation: 'backup', projectDir: spec.workingDir, paths: binds }, part.route);
  }

  progress.phase(`backing up ${project} as ${backupId}`);
  const hookRecords: HookRecord[] = [];
  const warnings: string[] = [];
  const undoProblems: string[] = [];
  const stopped: DataContainer[] = [];
  const archived: ArchiveEntry[] = [];
  // Hosts where this backup may have written something (each is cleaned up, or gets the manifest).
  const touched: HostShare[] = [];
  // The backup's own undo (compensations.ts); each host's share has its own (backup-share.ts).
  const undo = new Compensations();
  // Each host that took part, in turn. This workflow's own host fails the undo (its failure is the
  // backup's); another host that fails (a silent one) is recorded and the rest go on: its leftovers
  // are listed as incomplete there.
  const onEveryHost = async (title: string, fn: (part: HostShare) => Promise<unknown>) => {
    for (const part of touched) {
      if (part.route.name === undefined) await fn(part);
      else await undo.attempt(`${title} on ${part.route.name}`, () => fn(part));
    }
  };
  // Registered first, so it runs last, whatever the outcome: the helper containers the archive steps started go.
  undo.push({ title: 'remove helpers', onFailure: 'abort', run: () => onEveryHost('remove helpers', (part) => part.route.docker.removeHelpers({ project, operation })) });
  let failure: unknown;
  let completedAt = '';
  for (const part of parts) {
    touched.push(part);
    const outcome = await archiveShare(part, { spec, backupId, operation, destination: options.destination, encrypt: options.encrypt }, hookRecords, warnings, undoProblems, progress);
    stopped.push(...outcome.stopped);
    archived.push(...(outcome.entries ?? []));
    completedAt = outcome.completedAt ?? completedAt;
    if (outcome.failure !== undefined) {
      failure = outcome.failure;
      break;
    }
  }
  if (failure === undefined && archived.length === 0) {
    failure = ApplicationFailure.nonRetryable(`backup of ${project}: nothing was archived (${warnings.join('; ')})`, ErrorType.dataUnavailable);
  }

  let manifest: BackupManifest | undefined;
  let where = '';
  const copyProblems: string[] = [];
  if (failure !== undefined) {
    undo.push({
      title: 'remove incomplete backup',
      onFailure: 'abort',
      run: () =>
        onEveryHost('remove incomplete backup', (part) =>
          progress.step(`remove incomplete backup ${backupId}${onHost(part.route.name)}`, () => part.route.docker.discardIncompleteBackup({ project, backupId, destination: options.destination })),
        ),
    });
  } else {
    // Out of the cancellation's reach too: archives verified are a backup, whatever arrives now.
    await CancellationScope.nonCancellable(async () => {
      manifest = {
        format: MANIFEST_FORMAT,
        id: backupId,
        project,
        reason: options.reason,
        workflowId: operation,
        ...(options.revision !== undefined ? { revision: options.revision } : {}),
        createdAt,
        completedAt,
        verifiedAt: new Date(Date.now()).toISOString(),
        archives: archived,
        stopped: stopped.map((c) => c.name),
        hooks: hookRecords,
        warnings: [...warnings, ...undoProblems],
        ...(options.migration ? { migration: options.migration } : {}),
      };
      const m = manifest;
      // Each host that holds archives keeps the whole manifest beside them: a restore reads it from any of them.
      for (const part of touched) {
        const recorded = await progress.step(`record manifest of backup ${backupId}${onHost(part.route.name)}`, () => part.route.docker.commitManifest({ destination: options.destination, manifest: m }));
        where ||= part.route.name === undefined ? recorded : `${recorded} on ${part.route.name}`;
      }
      const holders = new Set(touched.map((p) => p.route.name));
      for (const copy of (options.across?.manifestHosts ?? []).filter((h) => !holders.has(h))) {
        try {
          await progress.step(`record a copy of the manifest of backup ${backupId} on ${copy}`, () => options.across!.routeOf(copy).docker.commitManifest({ destination: options.destination, manifest: m }));
        } catch (err) {
          // A copy only: the backup is whole without it.
          copyProblems.push(`no copy of the manifest on ${copy}: ${rootMessage(err)}`);
        }
      }
    });
  }
  await undo.run();
  undoProblems.push(...undo.messages);

  if (failure !== undefined) {
    const undone = undoProblems.length ? `; also: ${undoProblems.join('; ')}` : '';
    if (isCancellation(failure)) {
      const summary = `backup of ${project} was cancelled; ${stopped.length ? `${stopped.map((c) => c.name).join(', ')} started again, ` : ''}incomplete backup removed${undone}`;
      progress.phase(summary);
      throw new CancelledFailure(summary);
    }
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`backup of ${project} failed: ${rootMessage(failure)}${undone}`, failureType(failure, OperationFailure.backupFailed));
  }
  if (undoProblems.length > 0) {
    // The archives are complete and verified; what failed came after them.
    progress.phase('failed');
    throw ApplicationFailure.nonRetryable(`backup ${backupId} of ${project} is complete, but: ${undoProblems.join('; ')}`, ErrorType.hookFailed);
  }

  const pruned: string[] = [];
  const rejected: string[] = [];
  for (const part of touched) {
    const r = await prune(project, backupId, options.destination, options.retention, progress, part.route);
    pruned.push(...r.pruned.filter((id) => !pruned.includes(id)));
    rejected.push(...r.rejected);
  }
  if (options.revision !== undefined) {
    const number = options.revision;
    const ledgers = options.across ? options.across.ledgerHosts.map((h) => options.across!.routeOf(h)) : [LOCAL_DATA];
    for (const ledger of ledgers) {
      await progress.step(`link backup ${backupId} to revision ${number}${onHost(ledger.name)}`, () => ledger.host.linkToRevision({ project, number, kind: 'backups', id: backupId }));
    }
  }
  const listing = manifest!;
  return {
    manifest: listing,
    result: {
      project,
      backupId,
      destination: where,
      archives: listing.archives.map((a) => ({ key: a.key, kind: a.kind, archiveBytes: a.archiveBytes, contentBytes: a.contentBytes, sha256: a.sha256, ...(a.host !== undefined ? { host: a.host } : {}) })),
      stopped: listing.stopped,
      pruned,
      warnings: [...listing.warnings, ...copyProblems, ...rejected],
      ...(options.revision !== undefined ? { revision: options.revision } : {}),
    },
  };
}

/** A backup whose selection takes no data set: refused before anything is touched. */
export function nothingToBackUp(spec: StackSpec): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `project ${spec.project} has nothing to back up: no named volumes and no bind-mounted data directories inside ${spec.workingDir} (name one with --volume)`,
    ErrorType.invalidSpec,
  );
}

/**
 * Retention, decided here from the listing (pure), carried out by an
 * activity. The listing names backups by their folders (checked to be the
 * IDs their manifests carry); folders it rejected are never deleted, and
 * come back as warnings.
 */
async function prune(
  project: string,
  backupId: string,
  destination: string | undefined,
  policy: RetentionPolicy,
  progress: ProgressTracker,
  route: DataRoute,
): Promise<{ pruned: string[]; rejected: string[] }> {
  if (!hasRetentionRule(policy)) return { pruned: [], rejected: [] };
  const { backups, rejected = [] } = await route.docker.listBackups({ project, destination });
  const skipped = rejected.map((r) => `retention skipped ${r}`);
  const { remove } = selectForPruning(
    backups.map((b) => ({ id: b.id, createdAt: b.createdAt, verified: true })),
    policy,
    Date.now(),
    [backupId],
  );
  if (remove.length === 0) return { pruned: [], rejected: skipped };
  const pruned = await progress.step(`prune ${remove.length} old backup(s) of ${project}${onHost(route.name)}: ${remove.join(', ')}`, () => route.docker.deleteBackups({ project, destination, backupIds: remove }));
  return { pruned, rejected: skipped };
}
