/**
 * One host's share of a backup: the plan split by host, then on each host
 * its pre hooks, stops, archives and their verification, and (whatever
 * happened) its services started again and its post hooks.
 */
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import type { ArchiveResult } from '../activities/backup';
import type { StackSpec } from '../src/model/spec';
import type { ArchiveEntry, HookRecord } from '../src/backup/manifest';
import { helperImages, startOrder, type BackupPlan, type BackupTarget, type DataContainer } from '../src/backup/plan';
import type { BackupHook } from '../src/backup/settings';
import { outputStepTitle, shellQuote, tailLines } from '../src/backup/output';
import { hostCopyFileName } from '../src/backup/ids';
import { ErrorType } from '../src/errors';
import { rootMessage, type ProgressTracker } from './progress';
import { onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { startAgain } from './data-common';
import { Compensations } from './compensations';

/**
 * A backup across hosts: each data set is archived on the host that runs the
 * services mounting it, through that host's route; the manifest (every
 * archive with its host) is written on each of those hosts, and the backup
 * is linked in the ledgers of `ledgerHosts`.
 */
export interface AcrossHosts {
  routeOf: (host: string) => DataRoute;
  /**
   * The hosts of a data set the plan takes: one, or each host of a spread
   * service that mounts it (a copy on each, src/backup/hosts.ts); none for
   * one no host holds (a declared volume no service mounts), which is left out.
   */
  hostsOfTarget: (target: BackupTarget) => string[];
  ledgerHosts: string[];
  /**
   * Hosts that answered, which also keep a copy of the manifest (without
   * archives): a restore then finds it, and can name the data sets of a
   * host that went silent since, and `dockflow backups` lists it whichever
   * host's worker answers.
   */
  manifestHosts: string[];
}

const commandText = (command: string[]) => {
  const text = command.length >= 3 && command[0] === '/bin/sh' && command[1] === '-c' ? command.slice(2).join(' ') : shellQuote(command);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

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
export interface HostShare {
  route: DataRoute;
  plan: BackupPlan;
}

/**
 * Split the plan by host: each data set goes with the host `hostsOfTarget`
 * names, or, held on several hosts, each host's copy goes with its host as a
 * data set of its own (its archive file names the host); stops and hooks go
 * with their service's host, so a host stops only its own users of the copy.
 */
export function shares(plan: BackupPlan, across: AcrossHosts | undefined): HostShare[] {
  if (!across) return [{ route: LOCAL_DATA, plan }];
  const byHost = new Map<string, BackupTarget[]>();
  for (const target of plan.targets) {
    const hosts = across.hostsOfTarget(target);
    for (const host of hosts) {
      const share = hosts.length > 1 ? { ...target, archive: hostCopyFileName(target.kind, target.key, host), hostCopy: true as const } : target;
      byHost.set(host, [...(byHost.get(host) ?? []), share]);
    }
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

/** The containers a share stops for a consistent copy (and starts again): running ones of its services marked stop, in start order. */
export function containersToStop(plan: BackupPlan, containers: DataContainer[]): DataContainer[] {
  const stopServices = new Set(plan.stop.map((s) => s.service));
  return startOrder(containers.filter((c) => !c.oneoff && c.running && stopServices.has(c.service)));
}

export interface ShareOutcome {
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
export async function archiveShare(
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
  const toStop = containersToStop(plan, containers);
  const undo = new Compensations();
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
      archived.push({
        key: target.key,
        kind: target.kind,
        source: target.source,
        services: target.services,
        ...written,
        images: candidates.slice(0, 3),
        ...(route.name !== undefined ? { host: route.name } : {}),
        ...(target.hostCopy ? { hostCopy: true as const } : {}),
      });
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
  // On success too: the services start again and the post hooks run whatever happened.
  await undo.run();
  undoProblems.push(...undo.messages);
  return { entries, completedAt, stopped: toStop, failure };
}
