/**
 * What a notification says: one operation's outcome. Built in workflow code
 * (workflows/notify.ts) from the workflow's own info, so every value here is
 * deterministic; delivered by activities/notify.ts to the targets that
 * DOCKFLOW_NOTIFY lists on the worker (src/notify/targets.ts).
 *
 * This module is imported by workflow code: keep it free of Node APIs.
 */

/** The operation workflows that notify; every other workflow type (history, backups, the lock) never does. */
export const NOTIFY_OPERATIONS = ['deploy', 'update', 'rollback', 'backup', 'restore', 'migrate', 'down'] as const;
export type NotifyOperation = (typeof NOTIFY_OPERATIONS)[number];

/** How an operation ended. Exactly one event per workflow run. */
export const NOTIFY_EVENTS = ['completed', 'failed', 'cancelled'] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

export function isNotifyOperation(workflowType: string): workflowType is NotifyOperation {
  return (NOTIFY_OPERATIONS as readonly string[]).includes(workflowType);
}

/** What the workflow knows of the outcome; the delivery adds the idempotency key (src/notify/deliver.ts). */
export interface NotificationEvent {
  /** The body's format; a change that is not only an added field bumps it. */
  version: 1;
  event: NotifyEventName;
  operation: NotifyOperation;
  /** Absent only when the operation failed before its project was known (e.g. invalid input). */
  project?: string;
  workflowId: string;
  runId: string;
  /** The worker's task queue: which Docker host ran the operation. */
  taskQueue: string;
  /** Set when a Temporal Schedule started the operation (e.g. `dockflow schedule backup`). */
  scheduleId?: string;
  /** ISO times, workflow time. */
  startedAt: string;
  finishedAt: string;
  /** Failed operations: the innermost cause's message and the first failure type along the chain (as the CLI reports it). */
  error?: { message: string; type?: string };
  /** A few facts from the result of a completed operation, when it has them. */
  revision?: number;
  backupId?: string;
}

/** Longest error message a notification carries; the whole failure stays in Temporal's history. */
export const MAX_ERROR_MESSAGE = 2000;

/** Picks the facts a notification repeats from an operation's result (every operation's result is a plain object). */
export function resultFacts(result: unknown): Pick<NotificationEvent, 'revision' | 'backupId'> {
  if (typeof result !== 'object' || result === null) return {};
  const { revision, backupId } = result as { revision?: unknown; backupId?: unknown };
  return {
    ...(typeof revision === 'number' ? { revision } : {}),
    ...(typeof backupId === 'string' ? { backupId } : {}),
  };
}

/** One line for humans (Slack, Discord, logs): what happened to which project. */
export function eventHeadline(event: NotificationEvent): string {
  const what = `${event.operation}${event.project ? ` of ${event.project}` : ''}`;
  const facts = [
    event.revision !== undefined ? `revision ${event.revision}` : undefined,
    event.backupId ? `backup ${event.backupId}` : undefined,
    event.scheduleId ? `scheduled by ${event.scheduleId}` : undefined,
  ].filter((f): f is string => f !== undefined);
  return `dockflow: ${what} ${event.event}${facts.length ? ` (${facts.join(', ')})` : ''}`;
}
