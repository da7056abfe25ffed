/**
 * `dockflow backup | backups | restore | migrate` (schedules: schedule-commands.ts). Backups live
 * on the worker's host (DOCKFLOW_BACKUP_DIR, default <state dir>/backups), so
 * every command runs as a workflow on that host's worker, including the
 * listing. Exit codes as for the other commands: 0 success, 1 the operation
 * failed, 2 bad usage.
 */
import type { Command } from 'commander';
import * as path from 'node:path';
import type { RestoreResult } from '../../workflows/restore';
import type { MigrateResult } from '../../workflows/migrate';
import type { StackSpec } from '../model/spec';
import { collect, projectNameOption } from './options';
import type { BackupListing, BackupResult, DataDryRun } from '../../workflows/backup';
import { DEST_HELP, DRY_RUN_HELP, addOperationFlags, addRetentionOptions, checked, describeBackup, describeDryRun, destination, durationOption, hostTimeoutOption, numberOption, onEveryHost, retentionFlags, runWorkflow, runtime, usage } from './backup-shared';

export function registerBackupCommands(program: Command): void {
  const backupCommand = program
    .command('backup')
    .description('archive the project\'s volumes and data directories, verified, on the worker\'s host or in an S3 bucket')
    .addOption(projectNameOption())
    .option('--volume <volume>', 'a volume (key or Docker name) or bind path such as ./data (repeatable; default: all of the project\'s data)', collect)
    .option('--service <service>', 'the data of this service (repeatable)', collect)
    .option('--dest <dir|url>', `${DEST_HELP} (default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups)`)
    .option('--encrypt', 'encrypt the archives with the worker\'s key (DOCKFLOW_ENCRYPTION_KEY(_FILE)): AES-256-GCM, restore needs the same key');
  addOperationFlags(addRetentionOptions(backupCommand)
    .option('-f, --file <file>', 'compose file, for a project dockflow has not deployed (repeatable)', collect)
    .addOption(hostTimeoutOption())
    .option('--dry-run', DRY_RUN_HELP))
    .addHelpText(
      'after',
      [
        '\nExamples:',
        '  dockflow backup -p shop',
        '  dockflow backup -p shop --dry-run',
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
        ...(opts.dryRun ? { dryRun: true } : {}),
      });
      await runWorkflow<BackupResult | DataDryRun>(
        { ...opts, quiet: Boolean(opts.dryRun) },
        async (client, queue) => startBackup(client, queue, await onEveryHost(client, input, opts.hostTimeout)),
        (r) => ('dryRun' in r ? describeDryRun(r) : describeBackup(r, formatBytes)),
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
            [b.id, b.createdAt.replace(/\.\d+Z$/, 'Z'), b.reason, b.revision !== undefined ? `r${b.revision}` : '', formatBytes(b.totalBytes), b.archives.map((a) => (a.host !== undefined ? `${a.key} on ${a.host}` : a.key)).join(', ')],
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

  addOperationFlags(program
    .command('restore')
    .description('replace the data of a project\'s volumes with a backup\'s (checksums verified first; users of the data are stopped and started again)')
    .addOption(projectNameOption())
    .argument('<backup-id>', 'as dockflow backups lists it')
    .option('--volume <volume>', 'restore only this data set (repeatable; default: all in the backup)', collect)
    .option('--dest <dir|url>', `${DEST_HELP}: the one the backup is in`)
    .addOption(numberOption('--health-timeout <seconds>', 'upper bound for each health wait afterwards (default 120)'))
    .addOption(hostTimeoutOption())
    .option('--dry-run', DRY_RUN_HELP))
    .addHelpText(
      'after',
      '\nExamples:\n  dockflow restore -p shop 20261122-030000-1a2b3c4d\n  dockflow restore -p shop 20261122-030000-1a2b3c4d --dry-run\n  dockflow restore -p shop 20261122-030000-1a2b3c4d --volume db-data\n  dockflow restore -p shop 20261122-030000-1a2b3c4d --dest s3://backups/site-a',
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
        ...(opts.dryRun ? { dryRun: true } : {}),
      });
      await runWorkflow<RestoreResult | DataDryRun>(
        { ...opts, quiet: Boolean(opts.dryRun) },
        async (client, queue) => startRestore(client, queue, await onEveryHost(client, input, opts.hostTimeout)),
        (r) =>
          'dryRun' in r
            ? describeDryRun(r)
            : `${r.project}: restored ${r.restored.join(', ')} from backup ${r.backupId}${r.restarted.length ? `; started again: ${r.restarted.join(', ')}` : ''}`,
      );
    });

  addOperationFlags(program
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
    .addOption(hostTimeoutOption()))
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
}
