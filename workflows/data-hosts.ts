/**
 * backup, restore and migrate across several Docker hosts: one workflow per
 * project, under one project lock, each data set handled on the host that
 * runs the services mounting it (its worker's queue, `<queue>@<host>`).
 *
 * A data set lives where its services are placed: the placement recorded
 * with the project's revision (every host's ledger keeps a copy), or, for a
 * stack given inline or as compose files that the revision does not cover,
 * the placement of its constraints (src/plan/placement.ts). A backup's
 * manifest names each archive's host, and every host that holds archives
 * keeps the whole manifest beside them. A restore puts each data set back on
 * the host its archive names, and refuses, naming the data set and the host,
 * before anything is touched when that host is not registered or its worker
 * does not answer within the bound. A migration runs on the service's host.
 * A host known down before the operation starts (host-liveness.ts) is not
 * asked at all: the operation is refused at once when it needs that host,
 * and goes on without it otherwise, instead of waiting for the bound.
 *
 * A spread service's data sets are held on each of its hosts, a copy each
 * (src/backup/hosts.ts): a backup takes every copy on its host, a restore
 * puts each back where it came from and refuses copies that no longer match
 * the placement, and a migration of a service that mounts one is refused
 * (migrationSiteAcrossHosts says why). Guarded by SPREAD_DATA_PATCH, asked
 * only for a stack whose spread services mount data.
 *
 * Only inputs that name hosts come here: a single-host operation never does,
 * so its commands are exactly those it always issued.
 */
import { ApplicationFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { BackupOptions, MigrateOptions } from '../src/model/backup-input';
import { hostTaskQueue, type HostInfo } from '../src/model/hosts';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import { ManifestError, trustedRestoreEntries } from '../src/backup/manifest-check';
import { dataSets, planBackup, selectArchives, type BackupSelection } from '../src/backup/plan';
import { hostsOfDataSet, restoreHostsOf, spreadMigrationRefusal, type PlacedDataSet } from '../src/backup/hosts';
import { retentionOf } from '../src/backup/retention';
import { hostPart, hostsOfService } from '../src/plan/placement';
import { ErrorType, OperationFailure, firstFailureType } from '../src/errors';
import { HOST_SILENCE_SECONDS, HostSilent } from './apply';
import { dataRouteTo, type DataRoute } from './data-route';
import { place } from './host-routes';
import { invalid, type StackSource } from './data-common';
import { runBackup, type BackupResult } from './backup-run';
import type { AcrossHosts } from './backup-share';
import { checkRestorable, runRestore, type RestoreResult } from './restore-run';
import { assertService, type MigrationSite } from './migrate-run';
import { rootMessage, type ProgressTracker } from './progress';
import { loadComposeSource, requireProject } from './compose-source';
import { HOST_LIVENESS_EVERY_OPERATION_PATCH, downHosts, silentFor, type DownHost } from './host-liveness';
import { isPatched } from './patches';

/**
 * patched() ID of host copies: a spread service's data sets backed up,
 * restored and refused per host. Before it, data operations took the host
 * of a spread service's replica 1 only. Asked only when a spread service
 * mounts a data set, so every other stack issues the commands it always did.
 */
export const SPREAD_DATA_PATCH = 'dockflow-spread-data';

interface HostsInput {
  hosts: HostInfo[];
  hostSilenceSeconds?: number;
}

/** The project's stack as the hosts know it, where each service runs, and which hosts answered. */
export interface StackOnHosts {
  spec: StackSpec;
  revision?: Revision;
  hostOf: Record<string, string>;
  /** Spread services that mount data: every host running one of their replicas (each holds a copy). Absent when none. */
  spreadOver?: Record<string, string[]>;
  routeOf: (host: string) => DataRoute;
  registered: string[];
  /** Hosts known down before anything was asked, and those whose worker took no step within the bound when their ledger was read. */
  silent: string[];
  /** The hosts of `silent` known down before anything was asked (none in runs recorded before the look-up). */
  down: ReadonlyMap<string, DownHost>;
  /** Hosts whose ledger holds the revision (each gets the backup or migration linked). */
  ledgerHosts: string[];
}

function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

/**
 * Read every host's ledger, load the stack, and place it. A silent host is
 * noted, not fatal: the others keep copies of the same revision, and the
 * operation refuses only if it needs that host.
 */
export async function stackOnHosts(input: StackSource & HostsInput, progress: ProgressTracker): Promise<StackOnHosts> {
  const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
  const routeOf = (host: string) => dataRouteTo(hostTaskQueue(workflowInfo().taskQueue, host), host, seconds);
  const registered = sorted(input.hosts.map((h) => h.name));
  const down = await downHosts(registered, seconds, progress, HOST_LIVENESS_EVERY_OPERATION_PATCH);
  const silent: string[] = [...down.keys()];
  const found = await Promise.all(
    registered.map(async (host) => {
      if (down.has(host)) return undefined;
      try {
        return await progress.step(`read the ledger of ${host}`, () => routeOf(host).host.getRevision({ project: input.project }));
      } catch (err) {
        if (!(err instanceof HostSilent)) throw err;
        silent.push(host);
        return undefined;
      }
    }),
  );
  const revision = found.reduce<Revision | undefined>((best, r) => (r && (!best || r.number > best.number) ? r : best), undefined);
  const ledgerHosts = registered.filter((_, i) => revision !== undefined && found[i]?.number === revision.number);
  let spec: StackSpec;
  if (input.spec) spec = input.spec;
  else if (input.composeFiles || input.stack) {
    const loader = registered.find((h) => !silent.includes(h)) ?? registered[0];
    ({ spec } = await loadComposeSource(input, routeOf(loader).host, `load compose files on ${loader}`, progress));
    requireProject(input, spec);
  } else if (revision) spec = revision.spec;
  else {
    const unread = silent.length ? ` (${silent.map((h) => (down.has(h) ? `${h} is down: ${silentFor(down.get(h)!)}` : `${h} did not answer`)).join('; ')})` : '';
    throw ApplicationFailure.nonRetryable(
      `project ${input.project} has no revision in the ledgers of ${registered.join(', ')}${unread}: deploy it with dockflow first, or pass its compose files (-f, or "composeFiles")`,
      ErrorType.invalidSpec,
    );
  }
  // Where the last deploy put each service, if it placed them all; else where the constraints put them.
  const recorded = revision?.placement;
  const placement = recorded && Object.keys(spec.services).every((s) => recorded[s] !== undefined) ? { hostOf: recorded, spread: revision?.spread } : place(spec, input.hosts, undefined);
  const spreadOver = spreadData(spec, placement.hostOf, placement.spread);
  return { spec, revision, hostOf: placement.hostOf, ...(spreadOver ? { spreadOver } : {}), routeOf, registered, silent: silent.sort(), down, ledgerHosts };
}

/**
 * The spread services of `spec` that mount a data set, with their hosts; undefined when none
 * (or in a run recorded before host copies, which took replica 1's host alone).
 */
export function spreadData(spec: StackSpec, hostOf: Record<string, string>, spread: Record<string, string[]> | undefined): Record<string, string[]> | undefined {
  if (!spread) return undefined;
  const users = new Set([...dataSets(spec).values()].flatMap((d) => d.services));
  const over: Record<string, string[]> = {};
  for (const service of Object.keys(spread).sort()) {
    if (!(service in spec.services) || !users.has(service)) continue;
    const hosts = hostsOfService({ hostOf, spread }, service, spec.services[service].deploy.replicas);
    if (hosts.length > 1) over[service] = hosts;
  }
  if (Object.keys(over).length === 0) return undefined;
  return isPatched(SPREAD_DATA_PATCH) ? over : undefined;
}

/** The hosts of a data set: the one that runs the services mounting it, or each host of a spread service mounting it (a copy on each). */
function hostsOfTarget(stack: StackOnHosts, target: PlacedDataSet): string[] {
  return hostsOfDataSet(stack.spec.project, target, { hostOf: stack.hostOf, ...(stack.spreadOver ? { spreadOver: stack.spreadOver } : {}) });
}

/** Refuse, naming the data sets and the host, when a host holding some of them did not answer (or is known down). */
function refuseSilent(operation: string, stack: Pick<StackOnHosts, 'spec' | 'down'>, host: string, what: string[], seconds: number): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${operation} of ${stack.spec.project} refused before anything was touched: ${what.join(', ')} ${what.length === 1 ? 'is' : 'are'} on host ${hostSilence(stack, host, seconds)}`, OperationFailure.hostSilent);
}

/** "host-2, which is down (its worker last polled 80 s ago; …)" or "host-2, whose worker took no step within 60 s (…)". */
function hostSilence(stack: Pick<StackOnHosts, 'down'>, host: string, seconds: number): string {
  const down = stack.down.get(host);
  if (down) return `${host}, which is down (${silentFor(down)}; start "dockflow worker --host ${host}")`;
  return `${host}, whose worker took no step within ${seconds} s (is "dockflow worker --host ${host}" running?)`;
}

export function across(stack: StackOnHosts): AcrossHosts {
  return {
    routeOf: stack.routeOf,
    hostsOfTarget: (target) => hostsOfTarget(stack, target),
    ledgerHosts: stack.ledgerHosts,
    manifestHosts: stack.registered.filter((h) => !stack.silent.includes(h)),
  };
}

/**
 * Pure, before anything is touched: every data set the selection takes has
 * one host, and that host answered. Throws the refusal naming both.
 */
export function checkBackupHosts(stack: StackOnHosts, selection: BackupSelection, seconds: number): void {
  try {
    const byHost = new Map<string, string[]>();
    for (const target of planBackup(stack.spec, selection).targets) {
      for (const host of hostsOfTarget(stack, target)) byHost.set(host, [...(byHost.get(host) ?? []), `${target.kind} ${target.key}`]);
    }
    for (const [host, what] of byHost) if (stack.silent.includes(host)) throw refuseSilent('backup', stack, host, what, seconds);
  } catch (err) {
    throw invalid(err, stack.spec.project);
  }
}

export async function backupAcrossHosts(input: BackupOptions & HostsInput, progress: ProgressTracker): Promise<BackupResult> {
  const stack = await stackOnHosts(input, progress);
  const selection = { volumes: input.volumes, services: input.services };
  checkBackupHosts(stack, selection, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS);
  const taken = await runBackup(
    {
      spec: stack.spec,
      revision: stack.revision?.number,
      selection,
      destination: input.destination,
      retention: retentionOf(input),
      reason: input.reason,
      allowEmpty: false,
      encrypt: input.encrypt,
      across: across(stack),
    },
    progress,
  );
  progress.phase('done');
  return taken!.result;
}

/** A restore's data sets by the host each goes back to, sorted by host. */
export interface RestoreShares {
  byHost: Map<string, ArchiveEntry[]>;
  hosts: string[];
  /** "volume data", … of one host. */
  describe: (host: string) => string[];
}

/**
 * Pure, before anything is touched: the manifest's chosen data sets checked
 * against the stack, each given its host (the one it was taken on, or where
 * its services run now), refused naming both when that host is not
 * registered or did not answer.
 */
export function restoreShares(stack: StackOnHosts, manifest: BackupManifest, volumes: string[], seconds: number): RestoreShares {
  const project = stack.spec.project;
  const backupId = manifest.id;
  let entries: ArchiveEntry[];
  try {
    entries = trustedRestoreEntries(manifest, stack.spec, `manifest of backup ${backupId} of project ${project}`, selectArchives(manifest, volumes));
  } catch (err) {
    if (err instanceof ManifestError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.backupCorrupt);
    throw invalid(err, project);
  }
  const byHost = new Map<string, ArchiveEntry[]>();
  // Each entry's host: a host copy's own (checked against where its service runs now), else the one it
  // was taken on, else (taken on one host before hosts were registered) where its services run now.
  let hostsOf: (string | undefined)[];
  try {
    const known = dataSets(stack.spec);
    hostsOf = restoreHostsOf(project, backupId, entries, { hostOf: stack.hostOf, ...(stack.spreadOver ? { spreadOver: stack.spreadOver } : {}) }, (key) => known.get(key));
  } catch (err) {
    throw invalid(err, project);
  }
  for (const [i, entry] of entries.entries()) {
    const host = hostsOf[i];
    if (host === undefined) throw ApplicationFailure.nonRetryable(`restore of ${project}: ${entry.kind} ${entry.key} of backup ${backupId} is mounted by no service, so no host holds it`, ErrorType.invalidSpec);
    if (!stack.registered.includes(host)) {
      throw ApplicationFailure.nonRetryable(
        `restore of ${project} refused before anything was touched: ${entry.kind} ${entry.key} of backup ${backupId} was taken on host ${host}, which is not registered (hosts: ${stack.registered.join(', ')})`,
        ErrorType.invalidSpec,
      );
    }
    byHost.set(host, [...(byHost.get(host) ?? []), entry]);
  }
  const hosts = [...byHost.keys()].sort();
  const describe = (host: string) => byHost.get(host)!.map((e) => `${e.kind} ${e.key}`);
  for (const host of hosts) if (stack.silent.includes(host)) throw refuseSilent('restore', stack, host, describe(host), seconds);
  return { byHost, hosts, describe };
}

/**
 * Put a backup's data sets back, each on its host. Every host involved is
 * checked first (registered, answering, its policy, its archives read back);
 * only then is any data set touched, one host after another.
 */
async function restoreOnHosts(
  stack: StackOnHosts,
  manifest: BackupManifest,
  options: { volumes: string[]; destination?: string; healthTimeoutSeconds?: number; seconds: number },
  progress: ProgressTracker,
): Promise<RestoreResult> {
  const project = stack.spec.project;
  const backupId = manifest.id;
  const { byHost, hosts, describe } = restoreShares(stack, manifest, options.volumes, options.seconds);
  for (const host of hosts) {
    try {
      await checkRestorable(project, backupId, byHost.get(host)!, options.destination, stack.routeOf(host), progress);
    } catch (err) {
      if (err instanceof HostSilent) throw refuseSilent('restore', stack, host, describe(host), options.seconds);
      throw err;
    }
  }
  const restored: string[] = [];
  const restarted: string[] = [];
  const done: string[] = [];
  for (const host of hosts) {
    try {
      const r = await runRestore(
        { project, manifest: { ...manifest, archives: byHost.get(host)! }, spec: stack.spec, volumes: [], destination: options.destination, healthTimeoutSeconds: options.healthTimeoutSeconds, route: stack.routeOf(host), checked: true },
        progress,
      );
      // A data set held as host copies is restored on each of its hosts, and named once.
      restored.push(...r.restored.filter((key) => !restored.includes(key)));
      restarted.push(...r.restarted);
      done.push(host);
    } catch (err) {
      if (isCancellation(err) || done.length === 0) throw err;
      throw ApplicationFailure.nonRetryable(`${rootMessage(err)} (already restored: ${done.map((h) => `${describe(h).join(', ')} on ${h}`).join('; ')})`, firstFailureType(err) ?? OperationFailure.restoreFailed);
    }
  }
  return { project, backupId, restored, restarted };
}

/**
 * A backup's manifest across hosts: it is beside the archives, so it is read
 * from a host that runs services with data first, else any that answers.
 * Refuses, naming the host and its data sets, when the hosts that could hold
 * it did not answer.
 */
export async function readManifestAcrossHosts(
  stack: StackOnHosts,
  input: { project: string; backupId: string; destination?: string },
  seconds: number,
  progress: ProgressTracker,
): Promise<BackupManifest> {
  const withData = sorted(Object.values(stack.hostOf));
  const order = [...withData, ...stack.registered.filter((h) => !withData.includes(h))].filter((h) => !stack.silent.includes(h));
  let notFound: unknown;
  for (const host of order) {
    try {
      return await progress.step(`read backup ${input.backupId} of ${input.project} on ${host}`, () =>
        stack.routeOf(host).docker.readBackup({ project: input.project, backupId: input.backupId, destination: input.destination, spec: stack.spec }),
      );
    } catch (err) {
      if (err instanceof HostSilent) stack.silent.push(err.host);
      else if (firstFailureType(err) === ErrorType.backupNotFound) notFound ??= err;
      else throw err;
    }
  }
  // The hosts that could hold it did not answer: name what the stack keeps there.
  const silentData = new Map<string, string[]>();
  for (const [key, set] of dataSets(stack.spec)) {
    let hosts: string[];
    try {
      hosts = hostsOfTarget(stack, { ...set, optional: true });
    } catch {
      continue;
    }
    for (const host of hosts) if (stack.silent.includes(host)) silentData.set(host, [...(silentData.get(host) ?? []), `${set.kind} ${key}`]);
  }
  const [first] = [...silentData.keys()].sort();
  if (first !== undefined) throw refuseSilent('restore', stack, first, silentData.get(first)!, seconds);
  const unanswered = stack.silent.length ? `; ${sorted(stack.silent).join(', ')} did not answer within ${seconds} s` : '';
  throw ApplicationFailure.nonRetryable(
    `project ${input.project} has no complete backup ${input.backupId} on ${order.join(', ') || 'any host that answered'}${unanswered}${notFound ? ` (${rootMessage(notFound)})` : ''}`,
    ErrorType.backupNotFound,
  );
}

export async function restoreBackupAcrossHosts(
  input: StackSource & HostsInput & { backupId: string; volumes: string[]; destination?: string; healthTimeoutSeconds?: number },
  progress: ProgressTracker,
): Promise<RestoreResult> {
  const stack = await stackOnHosts(input, progress);
  const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
  const manifest = await readManifestAcrossHosts(stack, input, seconds, progress);
  const result = await restoreOnHosts(stack, manifest, { volumes: input.volumes, destination: input.destination, healthTimeoutSeconds: input.healthTimeoutSeconds, seconds }, progress);
  progress.phase('done');
  return result;
}

/** Where a migration runs across hosts: the service's host, with the backup across hosts and its restore there. */
export async function migrationSiteAcrossHosts(input: MigrateOptions & HostsInput, progress: ProgressTracker): Promise<MigrationSite> {
  const stack = await stackOnHosts(input, progress);
  assertService(stack.spec, input.service);
  refuseSpreadMigration(stack, input.service);
  const host = stack.hostOf[input.service];
  const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
  if (stack.silent.includes(host)) {
    throw ApplicationFailure.nonRetryable(
      `migrate of ${stack.spec.project} refused before anything was touched: service ${input.service} runs on host ${hostSilence(stack, host, seconds)}`,
      OperationFailure.hostSilent,
    );
  }
  return {
    spec: stack.spec,
    revision: stack.revision,
    route: stack.routeOf(host),
    policySpec: hostPart(stack.spec, stack.hostOf, host),
    across: across(stack),
    restoreBackup: (manifest) => restoreOnHosts(stack, manifest, { volumes: [], destination: input.destination, healthTimeoutSeconds: input.healthTimeoutSeconds, seconds }, progress),
  };
}

/** A migration of a service mounting a spread service's data set: refused, before anything is touched (src/backup/hosts.ts says why). */
function refuseSpreadMigration(stack: StackOnHosts, service: string): void {
  if (!stack.spreadOver) return;
  const refusal = spreadMigrationRefusal(stack.spec, { hostOf: stack.hostOf, spreadOver: stack.spreadOver }, service);
  if (refusal) throw ApplicationFailure.nonRetryable(`migrate of ${stack.spec.project} refused before anything was touched: ${refusal}`, ErrorType.invalidSpec);
}
