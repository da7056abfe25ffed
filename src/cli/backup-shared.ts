/**
 * What the data commands (backup, backups, restore, migrate, schedule ...)
 * share: their runtime, loaded on first use, usage errors, the workflow
 * runner and printer, the retention and --dest flags, and the hosts a data
 * operation names.
 */
import { Command, Option } from 'commander';
import * as path from 'node:path';
import type { WorkflowClient, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { z } from 'zod';
import { temporalSettings } from '../temporal/settings';
import type { Progress } from '../messages';
import { progressPrinter, workflowFailureJson, workflowResultJson } from './render';
import { durationArg, positiveNumberArg, positiveWholeNumberArg } from './options';
import { isOutputStep } from '../backup/output';
import { retentionOf } from '../backup/retention';
import type { BackupResult, DataDryRun } from '../../workflows/backup';

const EXIT_USAGE = 2;

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
export const runtime = () => (loadedRuntime ??= loadRuntime());

export function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: 'dockflow.usage' });
}

/** The same schema the workflow applies, checked here first so bad usage exits 2 without starting anything. */
export async function checked<S extends z.ZodType>(cmd: Command, schema: S, input: z.input<S>): Promise<z.input<S>> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) usage(cmd, (await runtime()).formatZodError(parsed.error).replace(/^input\./gm, ''));
  return input;
}

export function write(json: boolean, value: unknown, text: string): void {
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
export async function runWorkflow<R>(
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

export function intOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(positiveWholeNumberArg);
}

export function numberOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(positiveNumberArg);
}

export function durationOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser(durationArg);
}

/** The flags every data operation (backup, restore, migrate) shares: how it waits for the lock and for itself, and how it prints. */
export function addOperationFlags(cmd: Command): Command {
  return cmd
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output');
}

/** The retention flags of `backup` and `schedule backup`. */
export function addRetentionOptions(cmd: Command): Command {
  return cmd
    .addOption(intOption('--keep-last <n>', 'then keep the N newest backups of the project (restic\'s meaning, like the other --keep-*)'))
    .addOption(intOption('--keep <n>', 'the same as --keep-last').hideHelp())
    .addOption(intOption('--keep-daily <n>', 'and, for each of the N latest days (UTC) that have backups, that day\'s newest'))
    .addOption(intOption('--keep-weekly <n>', 'and the newest of each of the N latest ISO weeks that have backups'))
    .addOption(intOption('--keep-monthly <n>', 'and the newest of each of the N latest months that have backups'))
    .addOption(numberOption('--keep-days <days>', 'and every backup younger than this (a backup any --keep-* rule keeps survives)'));
}

export function retentionFlags(cmd: Command, opts: { keep?: number; keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number; keepDays?: number }) {
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

export function describeBackup(r: BackupResult, formatBytes: (bytes: number) => string): string {
  const lines = [`${r.project}: backup ${r.backupId} verified, in ${r.destination}`];
  for (const a of r.archives) lines.push(`  ${a.kind} ${a.key}${a.host !== undefined ? ` on ${a.host}` : ''}: ${formatBytes(a.archiveBytes)} (${formatBytes(a.contentBytes)} uncompressed) sha256 ${a.sha256.slice(0, 16)}…`);
  if (r.stopped.length) lines.push(`  stopped during the backup and started again: ${r.stopped.join(', ')}`);
  if (r.pruned.length) lines.push(`  pruned: ${r.pruned.join(', ')}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

export const DRY_RUN_HELP = 'print the plan per host (data sets, containers stopped and started again, destination, backup ID) and change nothing';

/** A backup's or restore's dry run, host by host. */
export function describeDryRun(r: DataDryRun): string {
  const what = r.operation === 'backup' ? 'archived' : 'restored';
  const lines = [
    r.operation === 'backup'
      ? `${r.project}: backup plan (dry run, nothing was changed); backup ID ${r.backupId} if it started now (each run names its own)${r.revision !== undefined ? `, linked to revision ${r.revision}` : ''}`
      : `${r.project}: plan to restore backup ${r.backupId} (dry run, nothing was changed)`,
  ];
  for (const h of r.hosts) {
    lines.push(`  ${h.host !== undefined ? `on ${h.host}, ` : ''}${h.destination}:`);
    lines.push(`    ${what}: ${h.dataSets.join(', ')}`);
    lines.push(`    stopped, then started again: ${h.stop.length ? h.stop.join(', ') : 'none'}`);
    for (const hook of h.hooks) lines.push(`    ${hook}`);
    if (h.prune.length) lines.push(`    pruned by retention afterwards: ${h.prune.join(', ')}`);
  }
  if (r.untouched?.length) lines.push(`  untouched: ${r.untouched.join(', ')}`);
  return lines.join('\n');
}

/**
 * With registered hosts, a data operation names them all (each data set is
 * handled on the host that runs its services); without, nothing is added
 * and it runs on the worker's host as always.
 */
export async function onEveryHost<I extends object>(client: WorkflowClient, input: I, hostTimeout: number | undefined): Promise<I> {
  const { registeredHosts } = await import('../client/hosts');
  const registered = await registeredHosts(client);
  if (registered.length === 0) return input;
  return { ...input, hosts: registered.map(({ name, labels }) => ({ name, labels })), ...(hostTimeout !== undefined ? { hostSilenceSeconds: hostTimeout } : {}) };
}

export const hostTimeoutOption = () =>
  new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves one of its steps untaken this long counts as silent (default 60)').argParser(positiveWholeNumberArg);
