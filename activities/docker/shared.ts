/**
 * What every Docker activity module shares: the engine's answers read the
 * same way everywhere (src/engine/reads.ts, re-exported here, also used by
 * the CLI), the slot lookup the planner also uses (src/docker/slot.ts), and
 * the heartbeat and cancellation of long waits. Plain functions of a
 * dockerode client, so backup and ledger activities use them too.
 */
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { slotHolder } from '../../src/docker/slot';
import { inspectOrUndefined, listProjectContainers, messageOf, statusOf } from '../../src/engine/reads';
import { containerName } from '../../src/model/names';

export { NOT_STARTED, slotHolder } from '../../src/docker/slot';
export { demuxLogs, imageIdOrUndefined, inspectOrUndefined, listProjectContainers, logTail, messageOf, statusOf } from '../../src/engine/reads';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Long polls stop when Temporal asks (the heartbeat delivers the request). */
export function throwIfCancelled(): void {
  try {
    Context.current().cancellationSignal.throwIfAborted();
  } catch (err) {
    if (err instanceof Error && err.message.includes('Activity context not initialized')) return;
    throw err;
  }
}

export function heartbeat(details?: unknown) {
  try {
    const context = Context.current();
    // A local activity has no heartbeat to send (the server does not know it).
    if (!context.info.isLocal) context.heartbeat(details);
  } catch {
    // Called outside an activity (unit use): nothing to report to.
  }
}

/** slotHolder for a slot given by project, service and number, inspected (undefined when the slot is empty). */
export async function inspectSlotHolder(docker: Docker, spec: StackSpec, service: string, number: number): Promise<Docker.ContainerInspectInfo | undefined> {
  const canonical = containerName(spec.project, spec.services[service], number);
  const slot = await listProjectContainers(docker, spec.project, [`${Label.service}=${service}`, `${Label.containerNumber}=${number}`]);
  const holder = slotHolder(slot, canonical);
  return holder ? inspectOrUndefined(docker, holder.Id) : undefined;
}

export function ignoreNotConnected(err: unknown): void {
  if (statusOf(err) === 404 || /is not connected/i.test(messageOf(err))) return;
  throw err;
}

export function ignoreAlreadyConnected(err: unknown): void {
  if (/already exists|already attached/i.test(messageOf(err))) return;
  throw err;
}
