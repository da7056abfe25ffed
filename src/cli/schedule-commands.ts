/**
 * `dockflow schedule backup | list | pause | resume | delete | trigger`: the
 * project's backup schedule, as a Temporal Schedule.
 */
import type { Command } from 'commander';
import { temporalSettings } from '../temporal/settings';
import { collect, projectNameOption } from './options';
import { DEST_HELP, addRetentionOptions, destination, durationOption, retentionFlags, runtime, usage, write } from './backup-shared';

export function registerScheduleCommands(program: Command): void {
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
