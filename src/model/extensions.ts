/**
 * dockflow's own compose extension, `x-dockflow`, on a service. The loader
 * keeps `x-*` keys verbatim; this schema reads the part dockflow acts on and
 * rejects keys it does not know, so a typo is an error and not a silent no-op.
 */
import { z } from 'zod';
import type { ServiceSpec } from './spec';
import { parseDuration } from './units';

export const AfterReplaceAction = z.union([
  z.strictObject({ service: z.string(), signal: z.string().regex(/^(SIG)?[A-Z0-9]+$/, 'a signal name such as SIGHUP') }),
  z.strictObject({ service: z.string(), action: z.literal('restart') }),
]);
export type AfterReplaceAction = z.infer<typeof AfterReplaceAction>;

export const DockflowServiceExtension = z.strictObject({
  update: z
    .strictObject({
      /**
       * A service that publishes a fixed host port cannot run two containers at
       * once, so start-first is impossible; with this set, dockflow falls back
       * to stop-first instead of failing. Default false.
       */
      allow_stop_first: z.boolean().optional(),
      /**
       * How long an old container stays reachable by its address after it
       * left service discovery, so requests already sent to it finish, before
       * it gets its stop_signal. A duration such as "2s". Default 1s, 3s when
       * after_replace nudges a proxy (its reload takes that long on a busy host).
       */
      drain: z.union([z.string(), z.number()]).optional(),
    })
    .optional(),
  /** What to do to other services once this one's containers were replaced (e.g. SIGHUP nginx). */
  after_replace: z.array(AfterReplaceAction).optional(),
  /** Backup settings (see docs/backups.md). */
  backup: z.unknown().optional(),
  /** Deploy hooks, checked by src/model/hooks.ts (README: Deploy hooks). */
  hooks: z.unknown().optional(),
});
export type DockflowServiceExtension = z.infer<typeof DockflowServiceExtension>;

export function serviceExtension(service: ServiceSpec): DockflowServiceExtension {
  const raw = service.extensions['x-dockflow'];
  if (raw === undefined || raw === null) return {};
  const parsed = DockflowServiceExtension.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`services.${service.name}.x-dockflow.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** A fixed host port means only one container of the service can run at a time. */
export function publishesFixedHostPort(service: ServiceSpec): boolean {
  // On the host's network every port it listens on is a host port.
  if (service.networkMode === 'host') return true;
  return service.ports.some((p) => p.published !== undefined && p.published !== '' && p.published !== '0');
}

/** Default drain after an old container left service discovery. */
export const DEFAULT_DRAIN_MS = 1000;
/**
 * Default drain when after_replace nudges another service (a proxy reload):
 * the proxy's old workers keep sending to the old containers until its
 * reload completes, which takes more than a second on a busy host.
 */
export const DEFAULT_DRAIN_AFTER_NUDGE_MS = 3000;

export function drainMs(service: ServiceSpec): number {
  const extension = serviceExtension(service);
  const drain = extension.update?.drain;
  if (drain === undefined) return (extension.after_replace ?? []).length > 0 ? DEFAULT_DRAIN_AFTER_NUDGE_MS : DEFAULT_DRAIN_MS;
  try {
    return parseDuration(drain);
  } catch (err) {
    throw new Error(`services.${service.name}.x-dockflow.update.drain: ${(err as Error).message}`);
  }
}
