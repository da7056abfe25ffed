/**
 * Notification activities: which of the worker's targets want an event
 * (a local activity, since DOCKFLOW_NOTIFY is the worker's, not the
 * workflow's), and one delivery to one target per activity, so a retry never
 * resends to a target that already has it. A retried delivery after a worker
 * died mid-request may reach the receiver twice; both carry the same
 * idempotency key.
 */
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { NotificationEvent } from '../src/notify/event';
import { NotificationFailure } from '../src/errors';
import { commandEnv, httpMessage, notificationBody } from '../src/notify/message';
import { targetWants, type NotifyTarget, type TargetKind } from '../src/notify/targets';
import { NOTIFICATION_ATTEMPTS_METRIC } from '../src/temporal/metrics';

/** What a workflow knows of a target: enough to address it and to show it, nothing secret. */
export interface NotifyTargetRef {
  id: string;
  label: string;
  kind: TargetKind;
}

const MAX_DETAIL = 300;

export function createNotifyActivities(targets: readonly NotifyTarget[]) {
  const byId = new Map(targets.map((t) => [t.id, t]));

  function countAttempt(kind: TargetKind, outcome: 'delivered' | 'failed'): void {
    try {
      Context.current().metricMeter.createCounter(NOTIFICATION_ATTEMPTS_METRIC, 'attempts', 'notification delivery attempts by target kind and outcome').add(1, { kind, outcome });
    } catch {
      // Called outside an activity (unit tests): no meter.
    }
  }

  return {
    /** The targets whose filters want this event, in DOCKFLOW_NOTIFY's order. */
    async notificationTargets(event: NotificationEvent): Promise<NotifyTargetRef[]> {
      return targets.filter((t) => targetWants(t, event)).map(({ id, label, kind }) => ({ id, label, kind }));
    },

    /** Deliver one event to one target; throws (retryable unless the target refused it for good) when it was not delivered. */
    async deliverNotification(input: { target: NotifyTargetRef; event: NotificationEvent }): Promise<{ target: string; detail: string }> {
      const target = byId.get(input.target.id);
      if (!target) {
        throw ApplicationFailure.nonRetryable(`${input.target.label} is not in this worker's DOCKFLOW_NOTIFY any more`, NotificationFailure.unknownTarget);
      }
      const signal = activitySignal();
      try {
        const detail = target.kind === 'command' ? await runCommand(target, input.event, signal) : await post(target, input.event, signal);
        countAttempt(target.kind, 'delivered');
        return { target: target.label, detail };
      } catch (err) {
        countAttempt(target.kind, 'failed');
        if (err instanceof ApplicationFailure) throw err;
        // Rethrown as a failure without the socket error's `code`: the liveness wrapper (activities/index.ts) takes
        // ECONNRESET, EPIPE or ETIMEDOUT for the Docker engine's and would wait for the engine instead.
        throw ApplicationFailure.retryable(`${target.label}: ${(err as Error).message}${causeOf(err)}`, NotificationFailure.failed);
      }
    },
  };
}

function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  return cause ? ` (${cause.code ?? cause.message})` : '';
}

async function post(target: NotifyTarget, event: NotificationEvent, cancelled: AbortSignal | undefined): Promise<string> {
  const message = httpMessage(target, event);
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const response = await fetch(message.url, {
    method: 'POST',
    headers: message.headers,
    body: message.body,
    // A redirected POST would lose its body (301/302 become GET): a moved receiver is a configuration error.
    redirect: 'manual',
    signal: cancelled ? AbortSignal.any([timeout, cancelled]) : timeout,
  });
  const text = (await response.text().catch(() => '')).slice(0, MAX_DETAIL);
  if (response.status >= 200 && response.status < 300) return `HTTP ${response.status}`;
  const answer = `${target.label} answered HTTP ${response.status}${text ? `: ${text}` : ''}`;
  if (isRetryableStatus(response.status)) throw ApplicationFailure.retryable(answer, NotificationFailure.failed);
  throw ApplicationFailure.nonRetryable(`${answer} (not retried: check the URL${target.kind === 'webhook' ? ' and the secret' : ''})`, NotificationFailure.rejected);
}

/** Worth another attempt: the receiver is down, overloaded or restarting. Other statuses mean it refuses this request for good. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

async function runCommand(target: NotifyTarget, event: NotificationEvent, cancelled: AbortSignal | undefined): Promise<string> {
  const body = notificationBody(event);
  return new Promise<string>((resolve, reject) => {
    const child = spawn(target.command!, [], { stdio: ['pipe', 'ignore', 'pipe'], env: commandEnv(body, process.env) });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_DETAIL);
    });
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, target.timeoutMs);
    cancelled?.addEventListener('abort', kill, { once: true });
    // A command that exits without reading stdin is not an error of ours.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(body));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      cancelled?.removeEventListener('abort', kill);
      if (code === 0) resolve('exit 0');
      else reject(new Error(`${signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${target.timeoutMs / 1000}s or cancelled)` : ''}` : `exit ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
