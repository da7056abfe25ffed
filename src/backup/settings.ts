/**
 * Per-service backup settings, from dockflow's compose extension
 *
 *   services:
 *     db:
 *       x-dockflow:
 *         backup:
 *           stop: true                                  # stopped while its data is archived
 *           pre:  ["pg_dump -U app -f /backup/dump.sql app"]
 *           post: [{command: ["rm", "/backup/dump.sql"], on_error: continue}]
 *
 * and from the labels offen/docker-volume-backup users already put on their
 * services (`docker-volume-backup.stop-during-backup`,
 * `docker-volume-backup.archive-pre`, `docker-volume-backup.archive-post`).
 *
 * A hook written as a string runs through `/bin/sh -c` (as offen's labels
 * do, so redirections work); a list runs as is, without a shell. Pure:
 * workflows import it; errors name the compose path that is wrong.
 */
import { z } from 'zod';
import type { ServiceSpec } from '../model/spec';
import { serviceExtension } from '../model/extensions';
import { parseDuration } from '../model/units';

/** Labels of offen/docker-volume-backup that dockflow honours. */
export const OffenLabel = {
  stop: 'docker-volume-backup.stop-during-backup',
  pre: 'docker-volume-backup.archive-pre',
  post: 'docker-volume-backup.archive-post',
} as const;

/** How long a hook may run unless it says otherwise. */
export const DEFAULT_HOOK_TIMEOUT_MS = 5 * 60_000;

const Command = z.union([z.string().min(1), z.array(z.string()).min(1)]);

const HookObject = z.strictObject({
  command: Command,
  /** A duration such as "30s"; default 5m. */
  timeout: z.union([z.string(), z.number()]).optional(),
  /** abort (default): the backup fails; continue: the failure is a warning in the manifest. */
  on_error: z.enum(['abort', 'continue']).optional(),
  user: z.string().optional(),
  working_dir: z.string().optional(),
});

const HookSchema = z.union([Command, HookObject]);

export const BackupExtension = z.strictObject({
  /** Stop this service's containers while its data is archived, start them again afterwards. Default false. */
  stop: z.boolean().optional(),
  /** Commands exec'd in a running container of the service before its data is archived (and before it is stopped). */
  pre: z.array(HookSchema).optional(),
  /** Commands exec'd after the archive (and after the service runs again), even when the backup failed. */
  post: z.array(HookSchema).optional(),
});

export type HookPhase = 'pre' | 'post';

export interface BackupHook {
  service: string;
  phase: HookPhase;
  command: string[];
  timeoutMs: number;
  onError: 'abort' | 'continue';
  user?: string;
  workingDir?: string;
  /** Where it was configured, for messages: `services.db.x-dockflow.backup.pre[0]` or a label. */
  origin: string;
}

export interface ServiceBackupSettings {
  stop: boolean;
  /** Why it is stopped, for progress and the manifest. */
  stopOrigin?: string;
  pre: BackupHook[];
  post: BackupHook[];
}

/** The settings are invalid; the message names the compose path. */
export class BackupSettingsError extends Error {}

function parseOrThrow<S extends z.ZodType>(schema: S, raw: unknown, origin: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  throw new BackupSettingsError(`${origin}${at}: ${issue.message}`);
}

function shellOrArgv(command: string | string[]): string[] {
  return typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
}

function hookFrom(service: string, phase: HookPhase, index: number, raw: z.infer<typeof HookSchema>): BackupHook {
  const origin = `services.${service}.x-dockflow.backup.${phase}[${index}]`;
  if (typeof raw === 'string' || Array.isArray(raw)) {
    return { service, phase, command: shellOrArgv(raw), timeoutMs: DEFAULT_HOOK_TIMEOUT_MS, onError: 'abort', origin };
  }
  let timeoutMs = DEFAULT_HOOK_TIMEOUT_MS;
  if (raw.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(raw.timeout);
    } catch (err) {
      throw new BackupSettingsError(`${origin}.timeout: ${(err as Error).message}`);
    }
    if (timeoutMs <= 0) throw new BackupSettingsError(`${origin}.timeout: must be more than 0`);
  }
  return {
    service,
    phase,
    command: shellOrArgv(raw.command),
    timeoutMs,
    onError: raw.on_error ?? 'abort',
    ...(raw.user !== undefined ? { user: raw.user } : {}),
    ...(raw.working_dir !== undefined ? { workingDir: raw.working_dir } : {}),
    origin,
  };
}

function labelsOf(service: ServiceSpec): Record<string, string> {
  return { ...service.labels, ...(service.deploy.labels ?? {}) };
}

/** offen's stop label: any value but "false"/"0"/"" means stop (offen matches a configurable value, "true" by default). */
function labelSaysStop(value: string | undefined): boolean {
  return value !== undefined && !['false', '0', ''].includes(value.trim().toLowerCase());
}

export function serviceBackupSettings(service: ServiceSpec): ServiceBackupSettings {
  let raw: unknown;
  try {
    raw = serviceExtension(service).backup;
  } catch (err) {
    throw new BackupSettingsError((err as Error).message);
  }
  const origin = `services.${service.name}.x-dockflow.backup`;
  // A union's error only says "invalid input": check each hook against the form it was written in first.
  const shape = parseOrThrow(BackupExtension.extend({ pre: z.array(z.unknown()).optional(), post: z.array(z.unknown()).optional() }), raw ?? {}, origin);
  for (const phase of ['pre', 'post'] as const) {
    (shape[phase] ?? []).forEach((hook, i) => {
      const form = typeof hook === 'object' && hook !== null && !Array.isArray(hook) ? HookObject : Command;
      parseOrThrow(form, hook, `${origin}.${phase}[${i}]`);
    });
  }
  const ext = parseOrThrow(BackupExtension, raw ?? {}, origin);
  const labels = labelsOf(service);
  const pre = (ext.pre ?? []).map((h, i) => hookFrom(service.name, 'pre', i, h));
  const post = (ext.post ?? []).map((h, i) => hookFrom(service.name, 'post', i, h));
  for (const phase of ['pre', 'post'] as const) {
    const command = labels[OffenLabel[phase]];
    if (command === undefined || command.trim() === '') continue;
    (phase === 'pre' ? pre : post).push({
      service: service.name,
      phase,
      command: ['/bin/sh', '-c', command],
      timeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
      onError: 'abort',
      origin: `services.${service.name}.labels.${OffenLabel[phase]}`,
    });
  }
  const stopByLabel = labelSaysStop(labels[OffenLabel.stop]);
  const stop = ext.stop === true || (ext.stop === undefined && stopByLabel);
  const stopOrigin = !stop
    ? undefined
    : ext.stop === true
      ? `services.${service.name}.x-dockflow.backup.stop`
      : `services.${service.name}.labels.${OffenLabel.stop}`;
  return { stop, ...(stopOrigin ? { stopOrigin } : {}), pre, post };
}
