/**
 * What each kind of target receives for one event: pure builders, so the
 * exact bytes, headers and signature are unit-tested; activities/notify.ts
 * only sends them.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { eventHeadline, MAX_ERROR_MESSAGE, type NotificationEvent } from './event';
import type { NotifyTarget } from './targets';

/** The generic webhook's body and a command's stdin (README: Notifications). */
export interface NotificationBody extends NotificationEvent {
  /** Same for every delivery of one event (retries, a worker that died mid-delivery): receivers drop duplicates by it. */
  idempotencyKey: string;
}

export const SIGNATURE_HEADER = 'X-Dockflow-Signature-256';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const EVENT_HEADER = 'X-Dockflow-Event';
export const USER_AGENT = 'dockflow-notify/1';

/**
 * sha256(workflow ID, run ID, event): one key per operation run's outcome,
 * whichever worker or attempt delivers it. A run has exactly one outcome, so
 * the event is in the key only to keep keys distinct should that ever change.
 */
export function idempotencyKey(event: Pick<NotificationEvent, 'workflowId' | 'runId' | 'event'>): string {
  return createHash('sha256').update(`${event.workflowId}\n${event.runId}\n${event.event}`).digest('hex').slice(0, 32);
}

export function notificationBody(event: NotificationEvent): NotificationBody {
  const body: NotificationBody = { ...event, idempotencyKey: idempotencyKey(event) };
  if (body.error && body.error.message.length > MAX_ERROR_MESSAGE) body.error = { ...body.error, message: `${body.error.message.slice(0, MAX_ERROR_MESSAGE)}…` };
  return body;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, GitHub's convention, so existing verifiers fit. */
export function signBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

/** What a receiver does (README shows the same in a few lines): constant-time comparison of the header with its own HMAC. */
export function verifySignature(secret: string, rawBody: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(secret, rawBody));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface HttpMessage {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP request for a webhook, Slack or Discord target. */
export function httpMessage(target: NotifyTarget, event: NotificationEvent): HttpMessage {
  if (!target.url) throw new Error(`${target.label} is not an HTTP target`);
  const body = notificationBody(event);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    [IDEMPOTENCY_HEADER.toLowerCase()]: body.idempotencyKey,
    [EVENT_HEADER.toLowerCase()]: event.event,
  };
  if (target.kind === 'slack') return { url: target.url, headers, body: JSON.stringify(slackBody(body)) };
  if (target.kind === 'discord') return { url: target.url, headers, body: JSON.stringify(discordBody(body)) };
  const raw = JSON.stringify(body);
  if (target.secret) headers[SIGNATURE_HEADER.toLowerCase()] = signBody(target.secret, raw);
  return { url: target.url, headers, body: raw };
}

const EMOJI = { completed: ':white_check_mark:', failed: ':x:', cancelled: ':warning:' } as const;

/** Lines shared by the chat formats: the headline, the error, where to look. */
function chatLines(body: NotificationBody): string[] {
  return [
    `${EMOJI[body.event]} ${eventHeadline(body)}`,
    ...(body.error ? [`error${body.error.type ? ` (${body.error.type})` : ''}: ${body.error.message}`] : []),
    `workflow ${body.workflowId} (run ${body.runId}) on ${body.taskQueue}`,
  ];
}

/** Slack: `text` is mrkdwn, where &, < and > must be escaped (they start links and mentions). */
export function slackBody(body: NotificationBody): { text: string } {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return { text: chatLines(body).map(escape).join('\n') };
}

/** Discord's content limit. */
const DISCORD_MAX = 2000;

/** Discord: no mentions are parsed, so an error message holding "@everyone" pings nobody. */
export function discordBody(body: NotificationBody): { content: string; username: string; allowed_mentions: { parse: never[] } } {
  const content = chatLines(body).join('\n');
  return { content: content.length > DISCORD_MAX ? `${content.slice(0, DISCORD_MAX - 1)}…` : content, username: 'dockflow', allowed_mentions: { parse: [] } };
}

/**
 * The environment a command target runs with: only these, not the worker's
 * (which holds DOCKFLOW_NOTIFY_SECRET, encryption keys, cloud credentials).
 */
export function commandEnv(body: NotificationBody, inherited: Record<string, string | undefined>): Record<string, string> {
  return {
    PATH: inherited.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    DOCKFLOW_EVENT: body.event,
    DOCKFLOW_OPERATION: body.operation,
    DOCKFLOW_PROJECT: body.project ?? '',
    DOCKFLOW_WORKFLOW_ID: body.workflowId,
    DOCKFLOW_IDEMPOTENCY_KEY: body.idempotencyKey,
  };
}
