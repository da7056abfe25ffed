/**
 * Notifications of operation outcomes. Every operation workflow ends through
 * the inbound interceptor (workflows/interceptors.ts), which calls
 * `notifyOutcome` once with the run's outcome:
 *
 * 1. a local activity asks the worker which of its DOCKFLOW_NOTIFY targets
 *    want this event (the targets are the worker's environment, never the
 *    workflow's, and the answer is recorded in the history, so replay and
 *    other workers see the same list);
 * 2. when any does, a child workflow `notifyOperation` (parent close policy
 *    ABANDON) delivers to each target through one activity with retries for
 *    up to NOTIFY_DELIVERY_BOUND.
 *
 * Why a child instead of delivering in the operation itself: the operation's
 * result (and the CLI waiting for it) and the project lock (a child that
 * lives as long as the operation) must not wait for a receiver that is down;
 * the child outlives the operation, is retried by Temporal like any workflow,
 * and its history shows every failed attempt. Its ID is derived from the
 * operation's run, so one outcome starts one delivery workflow. It carries no
 * DockflowProject search attribute: `dockflow status` lists a project's
 * running operations by it, and a delivery is not an operation.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  isCancellation,
  log,
  metricMeter,
  proxyActivities,
  proxyLocalActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Activities } from '../activities';
import type { NotifyTargetRef } from '../activities/notify';
import { isNotifyOperation, MAX_ERROR_MESSAGE, resultFacts, type NotificationEvent, type NotifyEventName } from '../src/notify/event';
import { PROJECT_ATTRIBUTE } from '../src/temporal/search-attributes';
import { LIVENESS_TIMEOUT } from './apply';
import { firstFailureType, NotificationFailure, rootMessage } from '../src/errors';
import { isPatched } from './patches';

/**
 * Operations finished before notifications existed have no local activity
 * and no child at their end; the marker keeps their replay deterministic.
 */
export const NOTIFY_PATCH = 'dockflow-notify';

/** How long one event is retried per target before it is given up (README: Notifications). */
export const NOTIFY_DELIVERY_BOUND = '1 hour';

/** Set by Temporal on runs a Schedule started. */
const SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

const resolve = proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });

export interface NotifyInput {
  event: NotificationEvent;
  targets: NotifyTargetRef[];
}

export interface NotifyResult {
  delivered: string[];
  /** Targets given up on, with the last failure: the operation's outcome did not reach them. */
  failed: { target: string; message: string }[];
}

/** Delivered / lost notifications per target kind; src/temporal/metrics.ts lists it. */
const notifications = metricMeter.createCounter('dockflow_notifications', 'notifications', 'notifications by target kind and outcome (delivered, lost)');

/** The delivery workflow: every target at once, each on its own retries; never fails. */
export async function notifyOperation(input: NotifyInput): Promise<NotifyResult> {
  const result: NotifyResult = { delivered: [], failed: [] };
  await Promise.all(
    input.targets.map(async (target) => {
      const delivery = proxyActivities<Activities>({
        summary: `notify ${target.label}: ${input.event.operation}${input.event.project ? ` of ${input.event.project}` : ''} ${input.event.event}`,
        // One attempt: the target's own timeout (at most 300 s) plus the command's or request's start.
        startToCloseTimeout: '6m',
        heartbeatTimeout: LIVENESS_TIMEOUT,
        scheduleToCloseTimeout: NOTIFY_DELIVERY_BOUND,
        retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: [NotificationFailure.rejected, NotificationFailure.unknownTarget] },
      });
      try {
        await delivery.deliverNotification({ target, event: input.event });
        result.delivered.push(target.label);
        notifications.add(1, { kind: target.kind, outcome: 'delivered' });
      } catch (err) {
        // Given up: visible as this workflow's failed activity and result, and in the counter; never the operation's failure.
        result.failed.push({ target: target.label, message: rootMessage(err) });
        notifications.add(1, { kind: target.kind, outcome: 'lost' });
      }
    }),
  );
  return result;
}

/**
 * Called by the interceptor when an operation workflow's body has ended, with
 * its result or its error. Runs in a non-cancellable scope: a cancelled
 * operation still reports "cancelled". Never throws: the operation's own
 * outcome is what its caller gets.
 */
export async function notifyOutcome(args: unknown[], outcome: { result: unknown } | { error: unknown }): Promise<void> {
  const info = workflowInfo();
  if (!isNotifyOperation(info.workflowType)) return;
  const input = args[0] as { dryRun?: unknown; project?: unknown } | undefined;
  // A dry run changes nothing, so there is nothing to report.
  if (input?.dryRun === true) return;
  if (!isPatched(NOTIFY_PATCH)) return;
  const event = outcomeEvent(input, outcome);
  await CancellationScope.nonCancellable(async () => {
    try {
      const targets = await resolve.notificationTargets(event);
      if (targets.length === 0) return;
      await startChild(notifyOperation, {
        workflowId: `${info.workflowId}-notify-${info.runId}`,
        args: [{ event, targets }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `notify: ${event.operation}${event.project ? ` of ${event.project}` : ''} ${event.event}`,
      });
    } catch (err) {
      // Only a worker or server problem lands here (the deliveries' own failures stay in the child).
      log.warn(`dockflow: notification of ${event.operation} ${event.event} not started: ${rootMessage(err)}`);
    }
  });
}

function outcomeEvent(input: { project?: unknown } | undefined, outcome: { result: unknown } | { error: unknown }): NotificationEvent {
  const info = workflowInfo();
  const project = info.typedSearchAttributes.get(PROJECT_ATTRIBUTE) ?? (typeof input?.project === 'string' ? input.project : undefined);
  const scheduleId = info.typedSearchAttributes.get(SCHEDULED_BY);
  const name: NotifyEventName = 'result' in outcome ? 'completed' : isCancellation(outcome.error) ? 'cancelled' : 'failed';
  return {
    version: 1,
    event: name,
    operation: info.workflowType as NotificationEvent['operation'],
    ...(project ? { project } : {}),
    workflowId: info.workflowId,
    runId: info.runId,
    taskQueue: info.taskQueue,
    ...(scheduleId ? { scheduleId } : {}),
    startedAt: info.startTime.toISOString(),
    finishedAt: new Date(Date.now()).toISOString(),
    ...(name === 'failed' && 'error' in outcome ? { error: errorOf(outcome.error) } : {}),
    ...('result' in outcome ? resultFacts(outcome.result) : {}),
  };
}

/** The innermost cause's message and the first failure type (e.g. RolledBack, PolicyRefused), as the CLI reports them. */
function errorOf(err: unknown): { message: string; type?: string } {
  const type = firstFailureType(err);
  return { message: rootMessage(err).slice(0, MAX_ERROR_MESSAGE), ...(type ? { type } : {}) };
}
