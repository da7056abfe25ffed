/**
 * Starting backups, restores and migrations from a Temporal client, and
 * managing scheduled backups as Temporal Schedules (they show on the Temporal
 * UI's Schedules page; the server starts the workflows, no cron runs in the
 * worker). What the CLI uses, and what any script can use.
 */
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type ScheduleDescription,
  type ScheduleSpec,
  type WorkflowClient,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { operationId } from '../client/operations';
import { retentionOf } from './retention';
import { assertProjectName } from '../model/names';
import type { TemporalSettings } from '../temporal/settings';
import { connectClient } from '../client/connect';
import { startOperation, type OperationWorkflow } from '../client/typed-starts';
import type { BackupInput, ListBackupsInput, MigrateInput, RestoreInput } from '../model/backup-input';

/** connectClient (src/client/connect.ts): the one connect, under the name the backup commands know. */
export async function connectTemporal(settings: TemporalSettings): Promise<{ client: Client; close: () => Promise<void> }> {
  return connectClient(settings);
}

export function startBackup(client: WorkflowClient, taskQueue: string, input: BackupInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'backup'>>> {
  return startOperation(client, 'backup', { taskQueue, workflowId: operationId(input.dryRun ? 'plan-backup' : 'backup', input.project), input });
}

export function startListBackups(client: WorkflowClient, taskQueue: string, input: ListBackupsInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'backups'>>> {
  return startOperation(client, 'backups', { taskQueue, workflowId: operationId('backups', input.project), input });
}

export function startRestore(client: WorkflowClient, taskQueue: string, input: RestoreInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'restore'>>> {
  return startOperation(client, 'restore', { taskQueue, workflowId: operationId(input.dryRun ? 'plan-restore' : 'restore', input.project), input });
}

export function startMigrate(client: WorkflowClient, taskQueue: string, input: MigrateInput): Promise<WorkflowHandleWithFirstExecutionRunId<OperationWorkflow<'migrate'>>> {
  return startOperation(client, 'migrate', { taskQueue, workflowId: operationId('migrate', input.project), input });
}

/** One backup schedule per project: `dockflow-backup-<project>`. */
export function backupScheduleId(project: string): string {
  return `dockflow-backup-${project}`;
}

const SCHEDULE_PREFIX = 'dockflow-backup-';

/** Catch-up window unless given: a server that was down at 03:00 and back within the hour still takes that night's backup. */
export const DEFAULT_CATCHUP_WINDOW_MS = 3_600_000;

export interface BackupScheduleOptions {
  project: string;
  /** The task queue of the worker on the project's Docker host. */
  taskQueue: string;
  /** Cron expressions ("0 3 * * *"), in `timezone` (default UTC). */
  cron?: string[];
  /** Or a fixed interval, in milliseconds. */
  everyMs?: number;
  timezone?: string;
  /** Retention after each run (src/backup/retention.ts): the same rules as a backup's. */
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepDays?: number;
  /** Encrypt the archives with the worker's key. Default false. */
  encrypt?: boolean;
  volumes?: string[];
  services?: string[];
  destination?: string;
  /** Milliseconds; default 1 hour. */
  catchupWindowMs?: number;
  /** Create it paused. Default false. */
  paused?: boolean;
}

function scheduleParts(o: BackupScheduleOptions) {
  // Checked before the server is asked: a schedule for a bad name would only fail at every run.
  assertProjectName(o.project, 'backup schedule');
  if ((o.cron === undefined || o.cron.length === 0) === (o.everyMs === undefined)) {
    throw new Error('a backup schedule needs either cron expressions or an interval, not both and not neither');
  }
  const spec: ScheduleSpec = o.cron?.length ? { cronExpressions: o.cron, ...(o.timezone ? { timezone: o.timezone } : {}) } : { intervals: [{ every: o.everyMs! }] };
  const input: BackupInput = {
    project: o.project,
    reason: 'scheduled',
    // A backup due while a deploy runs waits for it rather than being lost.
    waitForLock: true,
    // Every run backs up the data sets of the hosts registered then (each on its host); none registered: the worker's own.
    lookUpHosts: true,
    ...(o.volumes?.length ? { volumes: o.volumes } : {}),
    ...(o.services?.length ? { services: o.services } : {}),
    ...(o.destination ? { destination: o.destination } : {}),
    ...retentionOf(o),
    ...(o.encrypt ? { encrypt: true } : {}),
  };
  return {
    spec,
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'backup',
      taskQueue: o.taskQueue,
      // The server appends the scheduled time, so every run has its own ID (and its own backup ID).
      workflowId: `backup-${o.project}-scheduled`,
      args: [input],
    },
    policies: {
      // A backup still running when the next is due: skip the next, never run two at once.
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: o.catchupWindowMs ?? DEFAULT_CATCHUP_WINDOW_MS,
      pauseOnFailure: false,
    },
  };
}

/** Create the project's backup schedule, or update it when it exists. */
export async function putBackupSchedule(client: Client, o: BackupScheduleOptions): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = backupScheduleId(o.project);
  const parts = scheduleParts(o);
  try {
    await client.schedule.create({
      scheduleId,
      ...parts,
      memo: { dockflow: 'backup', project: o.project },
      state: { paused: Boolean(o.paused), note: `dockflow backups of ${o.project}` },
    });
    return { scheduleId, created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    ...parts,
    state: { ...previous.state, paused: o.paused ?? previous.state.paused },
  }));
  return { scheduleId, created: false };
}

export interface BackupScheduleSummary {
  scheduleId: string;
  project: string;
  /** "cron 0 3 * * *" or "every 6h0m0s". */
  when: string;
  paused: boolean;
  note?: string;
  nextRuns: string[];
  recentRuns: { scheduledAt: string; workflowId: string }[];
}

function describeSpec(spec: ScheduleDescription['spec'] | undefined): string {
  if (!spec) return '';
  const parts: string[] = [];
  for (const c of spec.calendars ?? []) parts.push(c.comment || `at ${calendarText(c)}`);
  for (const i of spec.intervals ?? []) parts.push(`every ${formatMs(Number(i.every))}`);
  return parts.join('; ') + (spec.timezone ? ` (${spec.timezone})` : '');
}

type Ranges = { start: number | string; end: number | string; step: number }[];

/** Cron-like text of a calendar: minute hour day-of-month month day-of-week. */
function calendarText(c: { minute: Ranges; hour: Ranges; dayOfMonth: Ranges; month: Ranges; dayOfWeek: Ranges }): string {
  const field = (ranges: Ranges, all: [number | string, number | string]) => {
    if (ranges.length === 1 && ranges[0].start === all[0] && ranges[0].end === all[1] && ranges[0].step <= 1) return '*';
    return ranges
      .map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}${r.step > 1 ? `/${r.step}` : ''}`))
      .join(',')
      .toLowerCase();
  };
  return [
    field(c.minute, [0, 59]),
    field(c.hour, [0, 23]),
    field(c.dayOfMonth, [1, 31]),
    field(c.month, ['JANUARY', 'DECEMBER']),
    field(c.dayOfWeek, ['SUNDAY', 'SATURDAY']),
  ].join(' ');
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** dockflow's backup schedules, with their next and recent runs. */
export async function listBackupSchedules(client: Client): Promise<BackupScheduleSummary[]> {
  const out: BackupScheduleSummary[] = [];
  for await (const summary of client.schedule.list()) {
    if (!summary.scheduleId.startsWith(SCHEDULE_PREFIX)) continue;
    // The listing is eventually consistent; describe gives the current state.
    const d = await client.schedule.getHandle(summary.scheduleId).describe();
    out.push({
      scheduleId: d.scheduleId,
      project: String(d.memo?.project ?? d.scheduleId.slice(SCHEDULE_PREFIX.length)),
      when: describeSpec(d.spec),
      paused: d.state.paused,
      ...(d.state.note ? { note: d.state.note } : {}),
      nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      recentRuns: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
    });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export function backupScheduleHandle(client: Client, project: string) {
  return client.schedule.getHandle(backupScheduleId(project));
}
