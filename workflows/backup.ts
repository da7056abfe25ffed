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
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { ArchiveResult } from '../activities/backup';
import { BackupInput, ListBackupsInput, type BackupOptions } from '../src/model/backup-input';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { backupIdFor } from '../src/backup/ids';
import { MANIFEST_FORMAT, type ArchiveEntry, type BackupManifest, type BackupReason, type BackupSummary, type HookRecord } from '../src/backup/manifest';
import { BackupPlanError, helperImages, planBackup, startOrder, type BackupPlan, type BackupSelection, type BackupTarget, type DataContainer } from '../src/backup/plan';
import { hasRetentionRule, retentionOf, selectForPruning, type RetentionPolicy } from '../src/backup/retention';
import type { BackupHook } from '../src/backup/settings';
import { outputStepTitle, shellQuote, tailLines } from '../src/backup/output';
import { ErrorType, OperationFailure } from '../src/errors';
import { parseWorkflowInput } from './input';
import { ProgressTracker, rootMessage } from './progress';
import { docker, failureType, host, onHost } from './apply';
import { LOCAL_DATA, archives, type DataRoute } from './data-route';
import { acquireProjectLock } from './lock';
import { checkDataPolicyNow } from './policy';
import { backupAcrossHosts } from './data-hosts';
import { loadComposeSource, requireProject } from './compose-source';

/** The archive and hook activities, with their timeouts, live with the routes (workflows/data-route.ts). */
export { archives };

/** A pure decision rejected the input: fail at once, nothing has been touched. */
export function invalid(err: unknown, project: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const message = err instanceof BackupPlanError ? err.message : `project ${project}: ${err instanceof Error ? err.message : String(err)}`;
  return ApplicationFailure.nonRetryable(message, ErrorType.invalidSpec);
}

export interface StackSource {
  project: string;
  spec?: StackSpec;
  composeFiles?: string[];
  stack?: string;
  profiles?: string[];
  envFiles?: string[];
  projectDirectory?: string;
}

/**
 * The stack to work on: the inline spec, compose files on the worker host,
 * or (neither given) the project's current revision in the host's ledger.
 * Also the current revision, which backups record and link to.
 */
export async function resolveStack(input: StackSource, progress: ProgressTracker): Promise<{ spec: StackSpec; revision?: Revision }> {
  const revision = await host.getRevision({ project: input.project });
  if (input.spec) return { spec: input.spec, revision };
  if (input.composeFiles || input.stack) {
    const { spec } = await loadComposeSource(input, host, 'load compose files', progress);
    requireProject(input, spec);
    return { spec, revision };
  }
  if (!revision) {
    throw ApplicationFailure.nonRetryable(
      `project ${input.project} has no revision in this host's ledger: deploy it with dockflow first, or pass its compose files (-f, or "composeFiles")`,
      ErrorType.invalidSpec,
    );
  }
  return { spec: revision.spec, revision };
}

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

/**
 * A backup across hosts: each data set is archived on the host that runs the
 * services mounting it, through that host's route; the manifest (every
 * archive with its host) is written on each of those hosts, and the backup
 * is linked in the ledgers of `ledgerHosts`.
 */
export interface AcrossHosts {
  routeOf: (host: string) => DataRoute;
  /** The host of a data set the plan takes; undefined for one no host holds (a declared volume no service mounts), which is left out. */
  hostOfTarget: (target: BackupTarget) => string | undefined;
  ledgerHosts: string[];
  /**
   * Hosts that answered, which also keep a copy of the manifest (without
   * archives): a restore then finds it, and can name the data sets of a
   * host that went silent since, and `dockflow backups` lists it whichever
   * host's worker answers.
   */
  manifestHosts: string[];
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

interface Undo {
  title: string;
  run: () => Promise<void>;
}

const commandText = (command: string[]) => {
  const text = command.length >= 3 && command[0] === '/bin/sh' && command[1] === '-c' ? command.slice(2).join(' ') : shellQuote(command);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/**
 * Start again, dependencies first, every service container that ran when a
 * data operation observed the project (`before`): those it stopped on
 * purpose (`stopped`, named in the step) and any that stopped meanwhile,
 * e.g. when the Docker daemon restarted and took every container down.
 * Idempotent (a running container is left alone). Returns the containers
 * that no longer exist.
 */
export async function startAgain(project: string, before: DataContainer[], stopped: DataContainer[], progress: ProgressTracker, route: DataRoute = LOCAL_DATA): Promise<string[]> {
  const refs = startOrder(before.filter((c) => !c.oneoff && c.running)).map((c) => ({ id: c.id, name: c.name }));
  if (refs.length === 0) return [];
  const title = stopped.length > 0 ? `start ${stopped.map((c) => c.name).join(', ')} again` : `make sure ${refs.map((r) => r.name).join(', ')} still run`;
  const { missing } = await progress.step(`${title}${onHost(route.name)}`, () => route.docker.startContainers({ project, containers: refs }));
  return missing;
}

/**
 * Run hooks in a running container of their service. A hook that fails with
 * on_error abort yields its message; with continue, a warning.
 */
async function runHooks(
  project: string,
  list: BackupHook[],
  containers: DataContainer[],
  records: HookRecord[],
  warnings: string[],
  progress: ProgressTracker,
  route: DataRoute,
): Promise<string | undefined> {
  for (const hook of list) {
    const container = containers.filter((c) => c.service === hook.service && !c.oneoff).sort((a, b) => a.number - b.number || a.name.localeCompare(b.name))[0];
    const where = `${hook.phase} hook of service ${hook.service} (${hook.origin})`;
    const title = `${hook.phase} hook in ${container?.name ?? hook.service}${onHost(route.name)}: ${commandText(hook.command)}`;
    let problem: string | undefined;
    try {
      await progress.step(title, async () => {
        if (!container) {
          records.push({ service: hook.service, phase: hook.phase, command: hook.command, outcome: 'skipped', detail: 'no container' });
          throw ApplicationFailure.nonRetryable(`${where}: the service has no container to run it in`, ErrorType.hookFailed);
        }
        const r = await route.hooks.runHook({ project, container: container.name, hook });
        const output = tailLines(r.output, 10);
        const outcome = r.error ? 'failed' : r.timedOut ? 'timed out' : r.exitCode === 0 ? 'ok' : 'failed';
        records.push({
          service: hook.service,
          phase: hook.phase,
          command: hook.command,
          container: container.name,
          ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
          outcome,
          ...(outcome !== 'ok' && (r.error || output) ? { detail: r.error ?? output } : {}),
        });
        for (const line of output ? output.split('\n') : []) await progress.step(outputStepTitle(container.name, line), async () => undefined);
        if (r.error) throw ApplicationFailure.nonRetryable(`${where}: ${r.error}`, ErrorType.hookFailed);
        if (r.timedOut) throw ApplicationFailure.nonRetryable(`${where} did not finish within ${hook.timeoutMs / 1000} s in ${container.name} (it may still be running there)`, ErrorType.hookFailed);
        if (r.exitCode !== 0) {
          throw ApplicationFailure.nonRetryable(`${where} exited with code ${r.exitCode} in ${container.name}${output ? `:\n${output}` : ''}`, ErrorType.hookFailed);
        }
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      problem = rootMessage(err);
    }
    if (problem === undefined) continue;
    if (hook.onError === 'abort') return problem;
    warnings.push(`${problem} (on_error: continue)`);
  }
  return undefined;
}

/** One host's share of a backup: its data sets, the services to stop there and their hooks. */
interface HostShare {
  route: DataRoute;
  plan: BackupPlan;
}

/** Split the plan by host: each data set goes with the host `hostOfTarget` names; stops and hooks with their service's host. */
function shares(plan: BackupPlan, across: AcrossHosts | undefined): HostShare[] {
  if (!across) return [{ route: LOCAL_DATA, plan }];
  const byHost = new Map<string, BackupTarget[]>();
  for (const target of plan.targets) {
    const host = across.hostOfTarget(target);
    if (host === undefined) continue;
    byHost.set(host, [...(byHost.get(host) ?? []), target]);
  }
  return [...byHost.keys()].sort().map((host) => {
    const targets = byHost.get(host)!;
    const services = new Set(targets.flatMap((t) => t.services));
    const route = across.routeOf(host);
    return {
      route,
      plan: {
        project: plan.project,
        targets,
        stop: plan.stop.filter((s) => services.has(s.service)),
        pre: plan.pre.filter((h) => services.has(h.service)),
        post: plan.post.filter((h) => services.has(h.service)),
      },
    };
  });
}

interface ShareOutcome {
  entries?: ArchiveEntry[];
  /** When its last archive was written (before it was read back). */
  completedAt?: string;
  stopped: DataContainer[];
  failure?: unknown;
}

/**
 * Hooks, stops, archives and their verification on one host, then (inside
 * a scope the cancellation cannot reach) the services started again and the
 * post hooks. Failures are returned, not thrown: the caller still has to
 * settle the backup as a whole.
 */
async function archiveShare(
  share: HostShare,
  context: { spec: StackSpec; backupId: string; operation: string; destination?: string; encrypt?: boolean },
  hookRecords: HookRecord[],
  warnings: string[],
  undoProblems: string[],
  progress: ProgressTracker,
): Promise<ShareOutcome> {
  const { route, plan } = share;
  const { spec, backupId, operation } = context;
  const project = spec.project;
  const containers = await progress.step(`observe containers of ${project}${onHost(route.name)}`, () => route.docker.observeDataContainers(project));
  const stopServices = new Map(plan.stop.map((s) => [s.service, s.origin]));
  const toStop = startOrder(containers.filter((c) => !c.oneoff && c.running && stopServices.has(c.service)));
  const undo: Undo[] = [];
  let entries: ArchiveEntry[] | undefined;
  let completedAt: string | undefined;
  let failure: unknown;

  try {
    // Registered first so post hooks run last, after the services are back.
    if (plan.post.length > 0) {
      undo.push({
        title: 'post hooks',
        run: async () => {
          const problem = await runHooks(project, plan.post, containers, hookRecords, warnings, progress, route);
          if (problem) throw ApplicationFailure.nonRetryable(problem, ErrorType.hookFailed);
        },
      });
    }
    const preProblem = await runHooks(project, plan.pre, containers, hookRecords, warnings, progress, route);
    // Nothing is stopped or archived yet: failing here leaves the project as it was.
    if (preProblem) throw ApplicationFailure.nonRetryable(preProblem, ErrorType.hookFailed);

    // Registered before any stop: a stop that fails half-way still has its started half undone.
    // It starts every container that ran when the backup began, not only those the backup
    // stopped: a Docker daemon restart during the backup stops them all.
    undo.push({
      title: 'start stopped services',
      run: async () => {
        for (const m of await startAgain(project, containers, toStop, progress, route)) warnings.push(`container ${m} was removed during the backup and could not be started again`);
      },
    });
    if (toStop.length > 0) {
      const refs = toStop.map((c) => ({ id: c.id, name: c.name }));
      const why = [...new Set(toStop.map((c) => stopServices.get(c.service)))].join(', ');
      await progress.step(`stop ${refs.map((r) => r.name).join(', ')}${onHost(route.name)} for a consistent copy (${why})`, () =>
        route.docker.stopContainers({ project, containers: [...refs].reverse() }),
      );
    }

    const archived: ArchiveEntry[] = [];
    for (const target of plan.targets) {
      const candidates = helperImages(target, containers, spec);
      const r: ArchiveResult = await progress.step(`archive ${target.kind} ${target.key}${onHost(route.name)}`, () =>
        route.archives.archiveTarget({ project, backupId, operation, destination: context.destination, target, images: candidates, ...(context.encrypt ? { encrypt: true } : {}) }),
      );
      if (r.skipped !== undefined) {
        warnings.push(r.skipped);
        continue;
      }
      const { reused: _reused, skipped: _skipped, ...written } = r;
      archived.push({ key: target.key, kind: target.kind, source: target.source, services: target.services, ...written, images: candidates.slice(0, 3), ...(route.name !== undefined ? { host: route.name } : {}) });
    }
    if (archived.length > 0) {
      completedAt = new Date(Date.now()).toISOString();
      await progress.step(`verify ${archived.length} archive(s) of backup ${backupId}${onHost(route.name)}`, () =>
        route.archives.verifyArchives({ project, backupId, destination: context.destination, archives: archived }),
      );
    }
    entries = archived;
  } catch (err) {
    failure = err;
  }
  await CancellationScope.nonCancellable(async () => {
    for (const step of [...undo].reverse()) {
      try {
        await step.run();
      } catch (err) {
        undoProblems.push(rootMessage(err));
      }
    }
  });
  return { entries, completedAt, stopped: toStop, failure };
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
    throw ApplicationFailure.nonRetryable(
      `project ${project} has nothing to back up: no named volumes and no bind-mounted data directories inside ${spec.workingDir} (name one with --volume)`,
      ErrorType.invalidSpec,
    );
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
  await CancellationScope.nonCancellable(async () => {
    if (failure === undefined) {
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
    } else {
      for (const part of touched) {
        try {
          await progress.step(`remove incomplete backup ${backupId}${onHost(part.route.name)}`, () => part.route.docker.discardIncompleteBackup({ project, backupId, destination: options.destination }));
        } catch (err) {
          // Only across hosts can this fail for good (a silent host); its leftovers are listed as incomplete there.
          if (part.route.name === undefined) throw err;
          undoProblems.push(rootMessage(err));
        }
      }
    }
    for (const part of touched) {
      try {
        await part.route.docker.removeHelpers({ project, operation });
      } catch (err) {
        if (part.route.name === undefined) throw err;
        undoProblems.push(rootMessage(err));
      }
    }
  });

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

export async function backup(rawInput: unknown): Promise<BackupResult> {
  const progress = new ProgressTracker('backup', '');
  const input: BackupOptions = parseWorkflowInput(BackupInput, rawInput, 'backup');
  progress.project = input.project;
  // One lock per project, whatever the hosts: it covers them all.
  await acquireProjectLock(input.project, 'backup', input.waitForLock, progress);
  // Only an input that names hosts goes there: every other backup runs below, as it always did.
  if (input.hosts) return backupAcrossHosts({ ...input, hosts: input.hosts }, progress);
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
