/**
 * `dockflow backup | backups | restore | migrate | schedule ...`. Backups live
 * on the worker's host (DOCKFLOW_BACKUP_DIR, default <state dir>/backups), so
 * every command runs as a workflow on that host's worker, including the
 * listing. Exit codes as for the other commands: 0 success, 1 the operation
 * failed, 2 bad usage.
 */
import { Command, Option } from 'commander';
import * as path from 'node:path';
import type { WorkflowClient, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { z } from 'zod';
import { temporalSettings } from '../temporal/settings';
import type { Progress } from '../messages';
import { progressPrinter, workflowFailureJson, workflowResultJson } from './render';
import { durationArg, positiveNumberArg, positiveWholeNumberArg, projectNameOption } from './options';
import { isOutputStep } from '../backup/output';
import { retentionOf } from '../backup/retention';
import type { BackupListing, BackupResult } from '../../workflows/backup';
import type { RestoreResult } from '../../workflows/restore';
import type { MigrateResult } from '../../workflows/migrate';
import type { StackSpec } from '../model/spec';

const EXIT_USAGE = 2;

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * What these commands run with (zod schemas, the compose loader, the Temporal
 * client), loaded once the first of them runs rather than at every CLI start
 * (see main.ts): registering the commands and `--help` need none of it.
 */
async function loadRuntime() {
  const [compose, operations, backupClient, inputs, { formatZodError }, { formatBytes }, { ScheduleNotFoundError }] = await Promise.all([
    import('../compose'),
    import('../client/operations'),
    import('../backup/client'),
    import('../model/backup-input'),
    import('../model/input'),
    import('../backup/manifest'),
    import('@temporalio/client'),
  ]);
  const { loadStack, ComposeError, splitShellWords } = compose;
  const { failureMessage, follow } = operations;
  const { backupScheduleHandle, backupScheduleId, connectTemporal, listBackupSchedules, putBackupSchedule, startBackup, startListBackups, startMigrate, startRestore } = backupClient;
  const { BackupInput, ListBackupsInput, MigrateInput, RestoreInput } = inputs;
  return {
    loadStack, ComposeError, splitShellWords, failureMessage, follow, formatZodError, formatBytes, ScheduleNotFoundError,
    backupScheduleHandle, backupScheduleId, connectTemporal, listBackupSchedules, putBackupSchedule, startBackup, startListBackups, startMigrate, startRestore,
    BackupInput, ListBackupsInput, MigrateInput, RestoreInput,
  };
}
let loadedRuntime: ReturnType<typeof loadRuntime> | undefined;
const runtime = () => (loadedRuntime ??= loadRuntime());

function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: 'dockflow.usage' });
}

/** The same schema the workflow applies, checked here first so bad usage exits 2 without starting anything. */
async function checked<S extends z.ZodType>(cmd: Command, schema: S, input: z.input<S>): Promise<z.input<S>> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) usage(cmd, (await runtime()).formatZodError(parsed.error).replace(/^input\./gm, ''));
  return input;
}

function write(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** Progress lines; a container's output lines (`name | line`) are printed as they are, indented. */
export function outputAwarePrinter(out: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
  const steps = progressPrinter(out);
  const printed = new Set<number>();
  return (progress: Progress) => {
    // In step order, so a hook's or migration's output appears under the step that produced it.
    for (const s of progress.steps) {
      if (!isOutputStep(s.title)) steps({ ...progress, steps: [s] });
      else if (!printed.has(s.id)) {
        printed.add(s.id);
        out(`    ${s.title}`);
      }
    }
  };
}

/** As runOperation in main.ts: with --json, every outcome names the workflow (workflowId, runId). */
async function runWorkflow<R>(
  opts: { detach?: boolean; json?: boolean; quiet?: boolean },
  start: (client: WorkflowClient, taskQueue: string) => Promise<WorkflowHandleWithFirstExecutionRunId>,
  render: (result: R) => string,
): Promise<void> {
  const { connectTemporal, failureMessage, follow } = await runtime();
  const settings = temporalSettings();
  const { client, close } = await connectTemporal(settings);
  try {
    const handle = await start(client.workflow, settings.taskQueue);
    if (opts.detach) {
      write(Boolean(opts.json), workflowResultJson(handle, {}), handle.workflowId);
      return;
    }
    if (!opts.json && !opts.quiet) process.stderr.write(`workflow ${handle.workflowId}\n`);
    let last: Progress | undefined;
    const printer = opts.json || opts.quiet ? () => undefined : outputAwarePrinter();
    let result: R;
    try {
      result = await follow<R>(handle, (p) => {
        last = p;
        printer(p);
      });
    } catch (err) {
      const message = last?.phase.includes('was cancelled') ? last.phase : failureMessage(err);
      if (opts.json) write(true, await workflowFailureJson(handle, err, message), '');
      throw new Error(message);
    }
    write(Boolean(opts.json), workflowResultJson(handle, result), render(result));
  } finally {
    await close();
  }
}

function intOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(positiveWholeNumberArg);
}

function numberOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(positiveNumberArg);
}

function durationOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(durationArg);
}

/** The retention flags of `backup` and `schedule backup`. */
function addRetentionOptions(cmd: Command): Command {
  return cmd
    .addOption(intOption('--keep-last <n>', 'then keep the N newest backups of the project (restic\'s meaning, like the other --keep-*)'))
    .addOption(intOption('--keep <n>', 'the same as --keep-last').hideHelp())
    .addOption(intOption('--keep-daily <n>', 'and, for each of the N latest days (UTC) that have backups, that day\'s newest'))
    .addOption(intOption('--keep-weekly <n>', 'and the newest of each of the N latest ISO weeks that have backups'))
    .addOption(intOption('--keep-monthly <n>', 'and the newest of each of the N latest months that have backups'))
    .addOption(numberOption('--keep-days <days>', 'and every backup younger than this (a backup any --keep-* rule keeps survives)'));
}

function retentionFlags(cmd: Command, opts: { keep?: number; keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number; keepDays?: number }) {
  if (opts.keep !== undefined && opts.keepLast !== undefined) usage(cmd, '--keep is --keep-last: give one of them');
  const keepLast = opts.keepLast ?? opts.keep;
  return retentionOf({ keepLast, keepDaily: opts.keepDaily, keepWeekly: opts.keepWeekly, keepMonthly: opts.keepMonthly, keepDays: opts.keepDays });
}

export const DEST_HELP = 'where the backups are: a directory on the worker\'s host, or s3://bucket/prefix (endpoint and credentials from the worker\'s AWS_* environment)';

/** --dest is a directory on the worker's host (made absolute here, where the user typed it) or a URL. */
export function destination(dest: string | undefined): string | undefined {
  if (dest === undefined) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(dest) ? dest : path.resolve(dest);
}

function describeBackup(r: BackupResult, formatBytes: (bytes: number) => string): string {
  const lines = [`${r.project}: backup ${r.backupId} verified, in ${r.destination}`];
  for (const a of r.archives) lines.push(`  ${a.kind} ${a.key}${a.host !== undefined ? ` on ${a.host}` : ''}: ${formatBytes(a.archiveBytes)} (${formatBytes(a.contentBytes)} uncompressed) sha256 ${a.sha256.slice(0, 16)}…`);
  if (r.stopped.length) lines.push(`  stopped during the backup and started again: ${r.stopped.join(', ')}`);
  if (r.pruned.length) lines.push(`  pruned: ${r.pruned.join(', ')}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/**
 * With registered hosts, a data operation names them all (each data set is
 * handled on the host that runs its services); without, nothing is added
 * and it runs on the worker's host as always.
 */
async function onEveryHost<I extends object>(client: WorkflowClient, input: I, hostTimeout: number | undefined): Promise<I> {
  const { registeredHosts } = await import('../client/hosts');
  const registered = await registeredHosts(client);
  if (registered.length === 0) return input;
  return { ...input, hosts: registered.map(({ name, labels }) => ({ name, labels })), ...(hostTimeout !== undefined ? { hostSilenceSeconds: hostTimeout } : {}) };
}

const hostTimeoutOption = () =>
  new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves one of its steps untaken this long counts as silent (default 60)').argParser(positiveWholeNumberArg);

export function registerBackupCommands(program: Command): void {
  const backupCommand = program
    .command('backup')
    .description('archive the project\'s volumes and data directories, verified, on the worker\'s host or in an S3 bucket')
    .addOption(projectNameOption())
    .option('--volume <volume>', 'a volume (key or Docker name) or bind path such as ./data (repeatable; default: all of the project\'s data)', collect)
    .option('--service <service>', 'the data of this service (repeatable)', collect)
    .option('--dest <dir|url>', `${DEST_HELP} (default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups)`)
    .option('--encrypt', 'encrypt the archives with the worker\'s key (DOCKFLOW_ENCRYPTION_KEY(_FILE)): AES-256-GCM, restore needs the same key');
  addRetentionOptions(backupCommand)
    .option('-f, --file <file>', 'compose file, for a project dockflow has not deployed (repeatable)', collect)
    .addOption(hostTimeoutOption())
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      [
        '\nExamples:',
        '  dockflow backup -p shop',
        '  dockflow backup -p shop --service db --keep-last 7',
        '  dockflow backup -p shop --volume ./data --dest /srv/backups',
        '  dockflow backup -p shop --dest s3://backups/site-a --encrypt --keep-daily 7 --keep-weekly 4 --keep-monthly 12',
        '    (the worker has AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DOCKFLOW_ENCRYPTION_KEY_FILE)',
      ].join('\n'),
    )
    .action(async (opts, cmd: Command) => {
      const { loadStack, ComposeError, BackupInput, startBackup, formatBytes } = await runtime();
      let spec: StackSpec | undefined;
      if (opts.file?.length) {
        try {
          spec = loadStack({ files: opts.file.map((f: string) => path.resolve(f)), projectName: opts.projectName }).spec;
        } catch (err) {
          if (err instanceof ComposeError) usage(cmd, err.message);
          throw err;
        }
      }
      const input = await checked(cmd, BackupInput, {
        project: opts.projectName,
        ...(spec ? { spec } : {}),
        volumes: opts.volume ?? [],
        services: opts.service ?? [],
        ...(opts.dest ? { destination: destination(opts.dest) } : {}),
        ...retentionFlags(cmd, opts),
        ...(opts.encrypt ? { encrypt: true } : {}),
        waitForLock: Boolean(opts.wait),
      });
      await runWorkflow<BackupResult>(
        opts,
        async (client, queue) => startBackup(client, queue, await onEveryHost(client, input, opts.hostTimeout)),
        (r) => describeBackup(r, formatBytes),
      );
    });

  program
    .command('backups')
    .description('list the project\'s verified backups on the worker\'s host')
    .addOption(projectNameOption())
    .option('--dest <dir|url>', `${DEST_HELP} (default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups)`)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow backups -p shop\n  dockflow backups -p shop --dest s3://backups/site-a\n  dockflow backups -p shop --json | jq -r ".backups[0].id"')
    .action(async (opts, cmd: Command) => {
      const { ListBackupsInput, startListBackups, formatBytes } = await runtime();
      const input = await checked(cmd, ListBackupsInput, { project: opts.projectName, ...(opts.dest ? { destination: destination(opts.dest) } : {}) });
      await runWorkflow<BackupListing>(
        { ...opts, quiet: true },
        (client, queue) => startListBackups(client, queue, input),
        (l) => {
          if (l.backups.length === 0) return `no backups of ${l.project} in ${l.destination}`;
          const rows = l.backups.map((b) =>
            [b.id, b.createdAt.replace(/\.\d+Z$/, 'Z'), b.reason, b.revision !== undefined ? `r${b.revision}` : '', formatBytes(b.totalBytes), b.archives.map((a) => a.key).join(', ')],
          );
          const header = ['ID', 'CREATED', 'REASON', 'REV', 'SIZE', 'DATA'];
          const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
          const table = [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
          const incomplete = l.incomplete.length ? `\nincomplete (in progress, or left by a terminated workflow): ${l.incomplete.join(', ')}` : '';
          const rejected = l.rejected?.length ? `\nrejected (not a backup dockflow can trust): ${l.rejected.join('; ')}` : '';
          return `${table}\n(${l.destination})${incomplete}${rejected}`;
        },
      );
    });

  program
    .command('restore')
    .description('replace the data of a project\'s volumes with a backup\'s (checksums verified first; users of the data are stopped and started again)')
    .addOption(projectNameOption())
    .argument('<backup-id>', 'as dockflow backups lists it')
    .option('--volume <volume>', 'restore only this data set (repeatable; default: all in the backup)', collect)
    .option('--dest <dir|url>', `${DEST_HELP}: the one the backup is in`)
    .addOption(numberOption('--health-timeout <seconds>', 'upper bound for each health wait afterwards (default 120)'))
    .addOption(hostTimeoutOption())
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  dockflow restore -p shop 20261122-030000-1a2b3c4d\n  dockflow restore -p shop 20261122-030000-1a2b3c4d --volume db-data\n  dockflow restore -p shop 20261122-030000-1a2b3c4d --dest s3://backups/site-a',
    )
    .action(async (backupId: string, opts, cmd: Command) => {
      const { RestoreInput, startRestore } = await runtime();
      const input = await checked(cmd, RestoreInput, {
        project: opts.projectName,
        backupId,
        volumes: opts.volume ?? [],
        ...(opts.dest ? { destination: destination(opts.dest) } : {}),
        ...(opts.healthTimeout !== undefined ? { healthTimeoutSeconds: opts.healthTimeout } : {}),
        waitForLock: Boolean(opts.wait),
      });
      await runWorkflow<RestoreResult>(
        opts,
        async (client, queue) => startRestore(client, queue, await onEveryHost(client, input, opts.hostTimeout)),
        (r) => `${r.project}: restored ${r.restored.join(', ')} from backup ${r.backupId}${r.restarted.length ? `; started again: ${r.restarted.join(', ')}` : ''}`,
      );
    });

  program
    .command('migrate')
    .description('back up a service\'s data, run a migration once in a one-off container, restore the backup if it fails')
    .addOption(projectNameOption())
    .argument('<service>', 'the service whose image, environment, networks and volumes the migration uses')
    .argument('<command...>', 'the migration command, after --')
    .option('--dry-run-command <command>', 'run this first (split like a compose command string) and show its output')
    .option('--backup-volume <volume>', 'back up this data set instead of the service\'s own (repeatable)', collect)
    .option('--restart', 'restart the service after a successful migration')
    .addOption(durationOption('--timeout <duration>', 'stop the migration and restore the backup after this long (default: no limit)'))
    .option('--dest <dir|url>', DEST_HELP)
    .addOption(hostTimeoutOption())
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow migrate -p shop api -- alembic upgrade head\n  dockflow migrate -p shop api --dry-run-command "alembic upgrade head --sql" --restart -- alembic upgrade head')
    .action(async (service: string, command: string[], opts, cmd: Command) => {
      const { splitShellWords, MigrateInput, startMigrate } = await runtime();
      let dryRun: string[] | undefined;
      if (opts.dryRunCommand !== undefined) {
        dryRun = splitShellWords(opts.dryRunCommand);
        if (dryRun.length === 0) usage(cmd, '--dry-run-command is empty');
      }
      const input = await checked(cmd, MigrateInput, {
        project: opts.projectName,
        service,
        command,
        ...(dryRun ? { dryRunCommand: dryRun } : {}),
        backupVolumes: opts.backupVolume ?? [],
        restart: Boolean(opts.restart),
        ...(opts.timeout !== undefined ? { timeoutSeconds: opts.timeout / 1000 } : {}),
        ...(opts.dest ? { destination: destination(opts.dest) } : {}),
        waitForLock: Boolean(opts.wait),
      });
      await runWorkflow<MigrateResult>(
        opts,
        async (client, queue) => startMigrate(client, queue, await onEveryHost(client, input, opts.hostTimeout)),
        (r) =>
          [
            `${r.project}: migration of ${r.service} succeeded${r.backupId ? ` (backup ${r.backupId} taken first)` : ''}${r.revision !== undefined ? `, recorded in revision ${r.revision}` : ''}`,
            ...(r.restarted.length ? [`restarted: ${r.restarted.join(', ')}`] : []),
            ...r.warnings.map((w) => `warning: ${w}`),
          ].join('\n'),
      );
    });

  const schedule = program.command('schedule').description('scheduled operations, as Temporal Schedules (see the Temporal UI\'s Schedules page)');

  const scheduleBackup = schedule
    .command('backup')
    .description('create or update the project\'s backup schedule (overlapping runs are skipped; missed runs are caught up within a window)')
    .addOption(projectNameOption())
    .option('--cron <expression>', 'when, as cron ("0 3 * * *"; repeatable)', collect)
    .addOption(durationOption('--every <duration>', 'or at a fixed interval, e.g. 6h'))
    .option('--timezone <tz>', 'time zone of the cron expressions (default UTC)');
  addRetentionOptions(scheduleBackup)
    .option('--volume <volume>', 'only this data set (repeatable)', collect)
    .option('--service <service>', 'only the data of this service (repeatable)', collect)
    .option('--dest <dir|url>', DEST_HELP)
    .option('--encrypt', 'encrypt the archives with the worker\'s key')
    .addOption(durationOption('--catchup-window <duration>', 'how late a missed run may still start (default 1h)'))
    .option('--paused', 'create it paused')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  dockflow schedule backup -p shop --cron "0 3 * * *" --keep-last 7\n  dockflow schedule backup -p shop --every 6h --service db --keep-days 14\n  dockflow schedule backup -p shop --cron "0 3 * * *" --dest s3://backups/site-a --keep-daily 7 --keep-weekly 4 --keep-monthly 6',
    )
    .action(async (opts, cmd: Command) => {
      if (Boolean(opts.cron?.length) === (opts.every !== undefined)) usage(cmd, 'give --cron or --every (one of them)');
      const { connectTemporal, putBackupSchedule, failureMessage } = await runtime();
      const settings = temporalSettings();
      const { client, close } = await connectTemporal(settings);
      try {
        const { scheduleId, created } = await putBackupSchedule(client, {
          project: opts.projectName,
          taskQueue: settings.taskQueue,
          ...(opts.cron?.length ? { cron: opts.cron } : { everyMs: opts.every }),
          ...(opts.timezone ? { timezone: opts.timezone } : {}),
          ...retentionFlags(cmd, opts),
          ...(opts.encrypt ? { encrypt: true } : {}),
          volumes: opts.volume,
          services: opts.service,
          ...(opts.dest ? { destination: destination(opts.dest) } : {}),
          ...(opts.catchupWindow !== undefined ? { catchupWindowMs: opts.catchupWindow } : {}),
          paused: Boolean(opts.paused),
        });
        write(Boolean(opts.json), { scheduleId, created, taskQueue: settings.taskQueue }, `${created ? 'created' : 'updated'} schedule ${scheduleId} (task queue ${settings.taskQueue})`);
      } catch (err) {
        throw new Error(failureMessage(err));
      } finally {
        await close();
      }
    });

  schedule
    .command('list')
    .description('list dockflow\'s backup schedules')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  dockflow schedule list --json')
    .action(async (opts) => {
      const { connectTemporal, listBackupSchedules } = await runtime();
      const { client, close } = await connectTemporal(temporalSettings());
      try {
        const list = await listBackupSchedules(client);
        const text = list.length
          ? list
              .map((s) => `${s.scheduleId}  ${s.when}${s.paused ? '  (paused)' : ''}\n    next: ${s.nextRuns[0] ?? '-'}  recent runs: ${s.recentRuns.length}`)
              .join('\n')
          : 'no backup schedules';
        write(Boolean(opts.json), list, text);
      } finally {
        await close();
      }
    });

  const verbs: { name: 'pause' | 'resume' | 'delete' | 'trigger'; description: string; done: string }[] = [
    { name: 'pause', description: 'pause the project\'s backup schedule', done: 'paused' },
    { name: 'resume', description: 'resume the project\'s backup schedule', done: 'resumed' },
    { name: 'delete', description: 'delete the project\'s backup schedule (backups already taken stay)', done: 'deleted' },
    { name: 'trigger', description: 'take a scheduled backup now', done: 'triggered' },
  ];
  for (const verb of verbs) {
    schedule
      .command(verb.name)
      .description(verb.description)
      .addOption(projectNameOption())
      .option('--json', 'machine-readable output')
      .addHelpText('after', `\nExample:\n  dockflow schedule ${verb.name} -p shop`)
      .action(async (opts) => {
        const { connectTemporal, backupScheduleHandle, backupScheduleId, ScheduleNotFoundError, failureMessage } = await runtime();
        const { client, close } = await connectTemporal(temporalSettings());
        try {
          const handle = backupScheduleHandle(client, opts.projectName);
          if (verb.name === 'pause') await handle.pause('paused with dockflow schedule pause');
          else if (verb.name === 'resume') await handle.unpause('resumed with dockflow schedule resume');
          else if (verb.name === 'delete') await handle.delete();
          else await handle.trigger();
          write(Boolean(opts.json), { scheduleId: backupScheduleId(opts.projectName), [verb.done]: true }, `${verb.done} ${backupScheduleId(opts.projectName)}`);
        } catch (err) {
          // A deleted schedule answers "not found" or, for a while, "workflow execution already completed".
          if (err instanceof ScheduleNotFoundError || /not found|already completed/i.test(failureMessage(err))) {
            throw new Error(`project ${opts.projectName} has no backup schedule ${backupScheduleId(opts.projectName)} (see dockflow schedule list)`);
          }
          throw new Error(`schedule ${backupScheduleId(opts.projectName)}: ${failureMessage(err)}`);
        } finally {
          await close();
        }
      });
  }
}
