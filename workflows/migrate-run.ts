/**
 * The migration itself, on the service's host (the caller holds the project
 * lock and chose the site: this workflow's own host, or the service's host
 * across hosts, data-hosts.ts): the backup, the optional dry run, the
 * migration in a one-off container, and on failure the backup restored.
 * Apart from migrate.ts, so that data-hosts.ts uses its parts without
 * importing the workflow that imports it.
 */
import { ApplicationFailure, CancelledFailure, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { MigrateOptions } from '../src/model/backup-input';
import type { BackupManifest } from '../src/backup/manifest';
import type { Revision } from '../src/model/revision';
import { serviceSlice } from '../src/model/slice';
import type { StackSpec } from '../src/model/spec';
import { oneOffName } from '../src/backup/ids';
import { tailLines } from '../src/backup/output';
import { retentionOf } from '../src/backup/retention';
import { ErrorType } from '../src/errors';
import { rootMessage, type ProgressTracker } from './progress';
import { onHost } from './apply';
import type { DataRoute } from './data-route';
import { runOneOff, type OneOffOutcome } from './one-off';
import { startAgain } from './data-common';
import { runBackup } from './backup-run';
import { Compensations } from './compensations';
import type { AcrossHosts } from './backup-share';

const DEFAULT_HEALTH_TIMEOUT_S = 120;

export interface MigrateResult {
  project: string;
  service: string;
  /** The backup taken before the migration (absent when the service has no data). */
  backupId?: string;
  dryRunOutput?: string;
  /** Last lines of the migration's output. */
  output: string;
  container: string;
  restarted: string[];
  /** The ledger revision the migration was linked to. */
  revision?: number;
  warnings: string[];
}

/** A migration's one-off container (or its dry run's): `<project>-<service>-run-<op>`. */
function runMigrationOneOff(
  spec: StackSpec,
  service: string,
  imageId: string,
  kind: 'run' | 'dryrun',
  command: string[],
  progress: ProgressTracker,
  route: DataRoute,
  deadline?: number,
): Promise<OneOffOutcome> {
  const operation = workflowInfo().workflowId;
  const name = oneOffName(spec.project, service, kind, operation);
  const label = kind === 'run' ? 'migration' : 'dry run';
  return runOneOff(spec, { service, imageId, name, kind, command, label, ...(deadline !== undefined ? { deadline } : {}) }, operation, progress, route);
}

/** Own keys only: "constructor" is `in` every object. */
export function assertService(spec: StackSpec, service: string): void {
  if (!Object.hasOwn(spec.services, service)) {
    throw ApplicationFailure.nonRetryable(
      `project ${spec.project} has no service ${service} (services: ${Object.keys(spec.services).sort().join(', ')})`,
      ErrorType.invalidSpec,
    );
  }
}

/**
 * Where a migration runs. On one host: this workflow's own queue, as always.
 * Across hosts (workflows/data-hosts.ts): the service's host, with the
 * backup taken where each data set lives and restored there.
 */
export interface MigrationSite {
  spec: StackSpec;
  revision?: Revision;
  /** The host that runs the service. */
  route: DataRoute;
  /** What that host's policy is checked against. */
  policySpec: StackSpec;
  across?: AcrossHosts;
  /** Put the backup back (the compensation of a failed migration). */
  restoreBackup: (manifest: BackupManifest) => Promise<unknown>;
}

/** The migration itself, on the service's host; the caller holds the project lock. */
export async function runMigration(input: MigrateOptions, site: MigrationSite, progress: ProgressTracker): Promise<MigrateResult> {
  const { project, service } = input;
  const { spec, revision, route } = site;
  const on = onHost(route.name);
  const { docker, images, waits } = route;
  // The one-off container gets the service's capabilities and mounts: the same policy as a deploy.
  await progress.step(route.name === undefined ? "check the worker's policy" : `check the policy of ${route.name}`, () => route.host.checkPolicy(site.policySpec));
  assertService(spec, service);
  const slice = serviceSlice(spec, service);
  const imageId =
    revision?.spec === spec && revision.images[service]
      ? revision.images[service].id
      : await progress.step(`look up image ${spec.services[service].image}${on}`, () => images.ensureImage({ spec: slice, service, forceBuild: false, lookupOnly: true }));
  if (!imageId) {
    throw ApplicationFailure.nonRetryable(
      `service ${service} of project ${project}: image ${spec.services[service].image} is not on ${route.name ?? 'this host'}; deploy the project first`,
      ErrorType.imageUnavailable,
    );
  }
  const warnings: string[] = [];
  // What runs now must run when the migration ends, whatever happened to the host meanwhile.
  const before = await progress.step(`observe containers of ${project}${on}`, () => docker.observeDataContainers(project));
  // The undo of a failed migration (compensations.ts), run only when it fails. Registered first, so
  // it runs last: what ran before runs again. Its failure is not the migration's to report (the next
  // operation starts them), so it is recorded and left out of the summary.
  const undo = new Compensations();
  undo.push({ title: 'start the containers again', run: () => startAgain(project, before, [], progress, route) });

  progress.phase('backup');
  const taken = await runBackup(
    {
      spec,
      revision: revision?.number,
      selection: input.backupVolumes.length > 0 ? { volumes: input.backupVolumes } : { services: [service] },
      destination: input.destination,
      retention: retentionOf(input),
      reason: 'migrate',
      migration: { service, command: input.command },
      allowEmpty: true,
      ...(site.across ? { across: site.across } : {}),
    },
    progress,
  );
  // From here on a failed migration's data is put back from this backup.
  const putBack = taken ? undo.push({ title: `restore backup ${taken.manifest.id}`, run: () => site.restoreBackup(taken.manifest) }) : undefined;
  if (!taken) warnings.push(`service ${service} has no named volume or data directory: no backup was taken, so a failed migration cannot be undone`);
  await progress.step(`ensure networks and volumes${on}`, () => docker.ensureNetworksAndVolumes(slice));

  let dryRunOutput: string | undefined;
  if (input.dryRunCommand) {
    progress.phase('dry run');
    const dry = await runMigrationOneOff(spec, service, imageId, 'dryrun', input.dryRunCommand, progress, route);
    dryRunOutput = dry.tail;
    await docker.removeContainer({ name: dry.name });
    if (dry.exitCode !== 0) {
      progress.phase('failed');
      throw ApplicationFailure.nonRetryable(
        `dry run of the migration of service ${service} (project ${project}) exited with code ${dry.exitCode}; nothing was migrated. Last lines:\n${tailLines(dry.tail, 20)}`,
        ErrorType.migrationFailed,
      );
    }
  }

  progress.phase('migrating');
  const deadline = input.timeoutSeconds !== undefined ? Date.now() + input.timeoutSeconds * 1000 : undefined;
  let outcome: OneOffOutcome | undefined;
  let cancelled: unknown;
  let broken: unknown;
  try {
    outcome = await runMigrationOneOff(spec, service, imageId, 'run', input.command, progress, route, deadline);
  } catch (err) {
    // Whatever stopped us from following the migration, it may have changed the data: undo it too.
    if (isCancellation(err)) cancelled = err;
    else broken = err;
  }
  const container = outcome?.name ?? oneOffName(project, service, 'run', workflowInfo().workflowId);

  if (cancelled !== undefined || broken !== undefined || outcome?.timedOut || outcome?.exitCode !== 0) {
    // Compensation: whatever the migration did to the data is undone from the backup.
    const why =
      cancelled !== undefined
        ? 'was cancelled'
        : broken !== undefined
          ? `could not be followed (${rootMessage(broken)})`
          : outcome?.timedOut
            ? `did not finish within ${input.timeoutSeconds} s`
            : `exited with code ${outcome?.exitCode}`;
    progress.phase(`migration ${why}: restoring backup`);
    // A migration that may still run is stopped first; failing that, nothing else is undone.
    if (cancelled !== undefined || broken !== undefined) undo.push({ title: `stop ${container}`, onFailure: 'abort', run: () => docker.stopOneOff({ name: container }) });
    await undo.run();
    const restoreFailure = putBack && undo.failureOf(putBack);
    const undone = !taken
      ? 'no backup to restore'
      : restoreFailure === undefined
        ? `backup ${taken.manifest.id} was restored`
        : `restoring backup ${taken.manifest.id} failed too (${restoreFailure}); restore it with dockflow restore -p ${project} ${taken.manifest.id}`;
    const summary = `migration of service ${service} (project ${project}) ${why}; ${undone}`;
    progress.phase(summary);
    if (cancelled !== undefined) throw new CancelledFailure(summary);
    // The one-off container stays for its logs; it is not a replica (oneoff=True) and `down` removes it too.
    const removal = `remove it with docker rm -f ${container} or dockflow down -p ${project}`;
    const kept = outcome?.tail
      ? `. Last lines of ${container} (kept for docker logs; ${removal}):\n${tailLines(outcome.tail, 20)}`
      : `. ${container} is kept for docker logs; ${removal}`;
    throw ApplicationFailure.nonRetryable(`${summary}${kept}`, ErrorType.migrationFailed);
  }

  await docker.removeContainer({ name: container });
  await startAgain(project, before, [], progress, route);
  let restarted: string[] = [];
  if (input.restart) {
    restarted = await progress.step(`restart ${service}${on}`, () => docker.nudgeService({ project, service, restart: true }));
    const containers = await docker.observeDataContainers(project);
    const budgetMs = (input.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_S) * 1000;
    await Promise.all(
      containers
        .filter((c) => c.service === service && !c.oneoff && c.running && c.hasHealthcheck)
        .map((c) => progress.step(`wait healthy ${c.name}${on}`, () => waits.waitHealthy({ service, name: c.name, budgetMs }))),
    );
  }
  if (revision) {
    const number = revision.number;
    const id = workflowInfo().workflowId;
    // Across hosts, every ledger that keeps a copy of the revision records it.
    const ledgers = site.across ? site.across.ledgerHosts.map((h) => site.across!.routeOf(h)) : [route];
    for (const ledger of ledgers) {
      await progress.step(`record migration ${id} in revision ${number}${onHost(ledger.name)}`, () => ledger.host.linkToRevision({ project, number, kind: 'migrations', id }));
    }
  }
  progress.phase('done');
  return {
    project,
    service,
    ...(taken ? { backupId: taken.manifest.id } : {}),
    ...(dryRunOutput !== undefined ? { dryRunOutput } : {}),
    output: outcome!.tail,
    container,
    restarted,
    ...(revision ? { revision: revision.number } : {}),
    warnings: [...warnings, ...(taken?.result.warnings ?? [])],
  };
}
