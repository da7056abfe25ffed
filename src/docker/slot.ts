/**
 * Pure decisions for one container slot (service, number): which container
 * holds it, what converging it to a config hash takes, and whether the
 * container must be started. The activity (activities/docker/containers.ts)
 * reads the slot from Docker, asks these, and carries the answer out; the
 * answers are unit-tested as exact data (test/unit/slot.test.ts).
 */
import type { ContainerInfo } from 'dockerode';
import type { ServiceSpec } from '../model/spec';
import { isStartedByCompose, Label } from '../model/labels';

/** Docker's StartedAt of a container that never ran. */
export const NOT_STARTED = '0001-01-01T00:00:00Z';

/** The fields of a listed container the slot decisions read. */
export type SlotContainer = Pick<ContainerInfo, 'Id' | 'Names' | 'Labels'>;

export const listedName = (c: Pick<ContainerInfo, 'Names'>): string => (c.Names?.[0] ?? '').replace(/^\//, '');

/**
 * The container that holds a slot now, the one a recreate replaces: the one
 * with the canonical name, else one docker compose started (under
 * compose's own name), the same rule as the planner's (planSlot).
 */
export function slotHolder<C extends SlotContainer>(slot: readonly C[], canonical: string): C | undefined {
  return slot.find((c) => listedName(c) === canonical) ?? slot.find((c) => isStartedByCompose(c.Labels));
}

/**
 * What bringing a slot to `configHash` under the canonical name takes, from
 * what an earlier attempt may have left:
 * - `replace`: an older container holds the slot; its replacement (`next`,
 *   reused when it exists, else created) is ready before the holder is
 *   removed, then takes the canonical name;
 * - `rename`: the slot is empty but the replacement exists (an attempt died
 *   after removing the holder): it takes the canonical name;
 * - `create`: nothing there: create under the canonical name;
 * - `keep`: the holder already has the config hash.
 */
export type SlotConvergence =
  | { kind: 'replace'; holderId: string; replacementId?: string }
  | { kind: 'rename'; replacementId: string }
  | { kind: 'create' }
  | { kind: 'keep'; holderId: string };

export function convergeSlot(slot: readonly SlotContainer[], names: { canonical: string; next: string }, configHash: string): SlotConvergence {
  const holder = slotHolder(slot, names.canonical);
  const replacement = slot.find((c) => listedName(c) === names.next);
  if (holder && holder.Labels?.[Label.configHash] !== configHash) {
    return { kind: 'replace', holderId: holder.Id, ...(replacement ? { replacementId: replacement.Id } : {}) };
  }
  if (holder) return { kind: 'keep', holderId: holder.Id };
  return replacement ? { kind: 'rename', replacementId: replacement.Id } : { kind: 'create' };
}

/** The other containers of the slot, removed once the converged one is in place (leftovers of earlier attempts). */
export function slotLeftovers(slot: readonly SlotContainer[], convergedId: string): string[] {
  return slot.filter((c) => c.Id !== convergedId).map((c) => c.Id);
}

/** The service's stop_grace_period as Docker's stop timeout in whole seconds (rounded up); undefined: Docker's default. */
export function stopTimeoutSec(service: Pick<ServiceSpec, 'stopGracePeriodMs'>): number | undefined {
  return service.stopGracePeriodMs !== undefined ? Math.ceil(service.stopGracePeriodMs / 1000) : undefined;
}

/**
 * Whether the converged container must be started. A long-running service:
 * whenever it is not running. A one-shot job that already ran must not run
 * again on a retried attempt: only when it never started, or when the
 * operation asks to start it again (`start`) after it failed.
 */
export function mustStart(
  container: { StartedAt: string; Running: boolean; ExitCode: number },
  job: { oneShot: boolean; action: 'create' | 'recreate' | 'start' },
): boolean {
  const neverStarted = container.StartedAt === NOT_STARTED || container.StartedAt === '';
  return job.oneShot ? neverStarted || (job.action === 'start' && container.ExitCode !== 0) : !container.Running;
}
