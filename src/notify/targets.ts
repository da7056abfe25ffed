/**
 * DOCKFLOW_NOTIFY: the worker's notification targets, URLs separated by
 * whitespace, checked strictly when the worker starts so that a typo is a
 * start-up error instead of a notification that silently never arrives.
 *
 *   https://hooks.example.com/dockflow        generic webhook: JSON body, HMAC-SHA256 signature
 *   slack+https://hooks.slack.com/services/…  Slack incoming webhook
 *   discord+https://discord.com/api/webhooks/… Discord webhook
 *   cmd:///usr/local/bin/on-dockflow-event    a command; the JSON body on stdin
 *
 * dockflow's own options go in the URL's fragment (`#events=failed&timeout=10`):
 * a fragment is never sent to the receiver, so the URL's path and query reach
 * it exactly as written, and no option name can clash with a receiver's
 * query parameter.
 *
 * Target URLs of Slack and Discord hold their secret in the path: errors and
 * labels show a target's scheme, host and position only, never its path.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isProjectName } from '../model/names';
import { NOTIFY_EVENTS, NOTIFY_OPERATIONS, type NotificationEvent, type NotifyEventName, type NotifyOperation } from './event';

export type TargetKind = 'webhook' | 'slack' | 'discord' | 'command';

export interface NotifyTarget {
  /** Stable across workers with the same DOCKFLOW_NOTIFY: a hash of the target's text (which may hold a secret, so never the text). */
  id: string;
  /** Safe to log and to show in the Temporal UI: kind, position, scheme and host (or the command's path). */
  label: string;
  kind: TargetKind;
  /** http(s) targets: the URL requested, without the fragment. */
  url?: string;
  /** command targets: the executable's absolute path. */
  command?: string;
  /** webhook targets: the HMAC-SHA256 key. */
  secret?: string;
  events: readonly NotifyEventName[];
  operations: readonly NotifyOperation[];
  /** Absent: every project. */
  projects?: readonly string[];
  /** One attempt's time limit (request or command run). */
  timeoutMs: number;
}

export const NOTIFY_ENV = 'DOCKFLOW_NOTIFY';
export const NOTIFY_SECRET_ENV = 'DOCKFLOW_NOTIFY_SECRET';
/** A shorter HMAC key is guessable offline from one signed body. */
export const MIN_SECRET_LENGTH = 16;
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 300;

const OPTIONS = ['events', 'operations', 'projects', 'secret_file', 'timeout'] as const;

/** A DOCKFLOW_NOTIFY problem; the message names the target (redacted) and the part that is wrong. */
export class NotifyConfigError extends Error {
  override name = 'NotifyConfigError';
}

export interface NotifyConfigIo {
  readFile(file: string): string;
  /** Throws when `file` is not an executable regular file. */
  checkExecutable(file: string): void;
}

export const nodeNotifyIo: NotifyConfigIo = {
  readFile: (file) => fs.readFileSync(file, 'utf8'),
  checkExecutable: (file) => {
    if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
    fs.accessSync(file, fs.constants.X_OK);
  },
};

/** Parse and check DOCKFLOW_NOTIFY; reads secret files and checks commands once, here. */
export function parseNotifyTargets(env: Record<string, string | undefined>, io: NotifyConfigIo = nodeNotifyIo): NotifyTarget[] {
  const texts = (env[NOTIFY_ENV] ?? '').split(/\s+/).filter(Boolean);
  const seen = new Set<string>();
  return texts.map((text, index) => {
    const target = parseTarget(text, index + 1, env, io);
    if (seen.has(target.id)) throw new NotifyConfigError(`${NOTIFY_ENV} target ${index + 1} (${target.label}) is listed twice`);
    seen.add(target.id);
    return target;
  });
}

function parseTarget(text: string, position: number, env: Record<string, string | undefined>, io: NotifyConfigIo): NotifyTarget {
  const hashIndex = text.indexOf('#');
  const address = hashIndex === -1 ? text : text.slice(0, hashIndex);
  const fragment = hashIndex === -1 ? '' : text.slice(hashIndex + 1);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(address)?.[1]?.toLowerCase();
  const where = (label: string) => `${NOTIFY_ENV} target ${position} (${label})`;
  const fail = (label: string, problem: string): never => {
    throw new NotifyConfigError(`${where(label)}: ${problem}`);
  };
  if (!scheme) fail('no scheme', 'is not a URL: expected http(s)://, slack+https://, discord+https:// or cmd:///path');

  const kind = kindOf(scheme!);
  if (!kind) fail(`${scheme}:`, `unknown scheme "${scheme}:" (known: http, https, slack+https, discord+https, cmd)`);
  const innerAddress = kind === 'slack' || kind === 'discord' ? address.slice(address.indexOf('+') + 1) : address;
  let url: URL;
  try {
    url = new URL(innerAddress);
  } catch {
    return fail(`${scheme}:`, 'is not a valid URL');
  }
  const label = kind === 'command' ? `command ${decodePath(url.pathname)}` : `${kind} ${url.protocol}//${url.host}`;
  const options = parseOptions(fragment, (problem) => fail(label, problem));

  const base = {
    id: createHash('sha256').update(text).digest('hex').slice(0, 16),
    label: `${label} (#${position})`,
    kind: kind!,
    events: options.events ?? NOTIFY_EVENTS,
    operations: options.operations ?? NOTIFY_OPERATIONS,
    ...(options.projects ? { projects: options.projects } : {}),
    timeoutMs: (options.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
  };

  if (kind === 'command') {
    if (url.host !== '') fail(label, `a command is cmd:///absolute/path (three slashes); "${url.host}" was read as a host`);
    if (url.search) fail(label, 'a command takes no arguments (the query part); it reads the event as JSON on stdin');
    if (options.secret_file) fail(label, 'secret_file= is for webhooks: a command is not sent over the network');
    const command = decodePath(url.pathname);
    if (!path.isAbsolute(command) || command === '/') fail(label, 'the command must be an absolute path to an executable');
    try {
      io.checkExecutable(command);
    } catch (err) {
      fail(label, `the command is not an executable file (${(err as Error).message})`);
    }
    return { ...base, command };
  }

  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(label, `expected http or https after "${scheme}"`);
  if (url.username || url.password) fail(label, 'credentials in the URL are not supported (webhooks are authenticated by their signature)');
  if (kind !== 'webhook' && url.protocol === 'http:' && !isLoopback(url.hostname)) {
    fail(label, `${kind} webhook URLs carry their token in the path: use https (plain http only to this host, for tests)`);
  }
  const requestUrl = new URL(url.href);
  requestUrl.hash = '';
  if (kind !== 'webhook') {
    if (options.secret_file) fail(label, `secret_file= is for generic webhooks: ${kind} authenticates by the token in its URL`);
    return { ...base, url: requestUrl.href };
  }
  const secret = options.secret_file ? readSecretFile(options.secret_file, io, (problem) => fail(label, problem)) : env[NOTIFY_SECRET_ENV];
  if (!secret) fail(label, `a webhook needs a shared secret for its signature: set ${NOTIFY_SECRET_ENV} or add #secret_file=/path/to/secret`);
  if (secret!.length < MIN_SECRET_LENGTH) {
    fail(label, `the signature secret (${options.secret_file ? 'secret_file' : NOTIFY_SECRET_ENV}) must have at least ${MIN_SECRET_LENGTH} characters`);
  }
  return { ...base, url: requestUrl.href, secret: secret! };
}

function kindOf(scheme: string): TargetKind | undefined {
  if (scheme === 'http' || scheme === 'https') return 'webhook';
  if (scheme === 'slack+https' || scheme === 'slack+http') return 'slack';
  if (scheme === 'discord+https' || scheme === 'discord+http') return 'discord';
  if (scheme === 'cmd') return 'command';
  return undefined;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

interface TargetOptions {
  events?: NotifyEventName[];
  operations?: NotifyOperation[];
  projects?: string[];
  secret_file?: string;
  timeout?: number;
}

function parseOptions(fragment: string, fail: (problem: string) => never): TargetOptions {
  const options: TargetOptions = {};
  if (!fragment) return options;
  const seen = new Set<string>();
  for (const pair of fragment.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`option "${pair}" is not name=value (options: ${OPTIONS.join(', ')})`);
    const name = pair.slice(0, eq);
    let value = '';
    try {
      value = decodeURIComponent(pair.slice(eq + 1));
    } catch {
      fail(`option "${name}" has a malformed %-escape`);
    }
    if (!(OPTIONS as readonly string[]).includes(name)) fail(`unknown option "${name}" (options: ${OPTIONS.join(', ')})`);
    if (seen.has(name)) fail(`option "${name}" is given twice`);
    seen.add(name);
    if (value === '') fail(`option "${name}" is empty`);
    switch (name as (typeof OPTIONS)[number]) {
      case 'events':
        options.events = listOf(name, value, NOTIFY_EVENTS, fail);
        break;
      case 'operations':
        options.operations = listOf(name, value, NOTIFY_OPERATIONS, fail);
        break;
      case 'projects': {
        const projects = value.split(',');
        const bad = projects.find((p) => !isProjectName(p));
        if (bad !== undefined) fail(`projects: "${bad}" is not a valid project name`);
        options.projects = projects;
        break;
      }
      case 'secret_file':
        if (!path.isAbsolute(value)) fail(`secret_file: "${value}" must be an absolute path`);
        options.secret_file = value;
        break;
      case 'timeout': {
        const seconds = Number(value);
        if (!/^\d+$/.test(value) || seconds < 1 || seconds > MAX_TIMEOUT_SECONDS) fail(`timeout: "${value}" must be whole seconds from 1 to ${MAX_TIMEOUT_SECONDS}`);
        options.timeout = seconds;
        break;
      }
    }
  }
  return options;
}

function listOf<T extends string>(name: string, value: string, allowed: readonly T[], fail: (problem: string) => never): T[] {
  const items = value.split(',');
  const bad = items.find((item) => !(allowed as readonly string[]).includes(item));
  if (bad !== undefined) fail(`${name}: "${bad}" is not one of ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
}

function readSecretFile(file: string, io: NotifyConfigIo, fail: (problem: string) => never): string {
  let text: string;
  try {
    text = io.readFile(file);
  } catch (err) {
    return fail(`secret_file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // A trailing newline from `echo secret > file` is not part of the secret.
  const secret = text.replace(/\r?\n$/, '');
  if (!secret) fail(`secret_file ${file} is empty`);
  return secret;
}

/** Whether `target` wants this event (its events=, operations= and projects= filters). */
export function targetWants(target: NotifyTarget, event: Pick<NotificationEvent, 'event' | 'operation' | 'project'>): boolean {
  if (!target.events.includes(event.event)) return false;
  if (!target.operations.includes(event.operation)) return false;
  if (target.projects && !(event.project !== undefined && target.projects.includes(event.project))) return false;
  return true;
}
