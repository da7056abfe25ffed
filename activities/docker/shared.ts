/**
 * What every Docker activity module shares: the engine's answers read the
 * same way everywhere (404 is "not there", the "never started" timestamp, log
 * frames), the slot lookup the planner also uses, and the heartbeat and
 * cancellation of long waits. Plain functions of a dockerode client, so
 * backup and ledger activities use them too.
 */
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { slotHolder } from '../../src/docker/slot';
import { containerName } from '../../src/model/names';

export { NOT_STARTED, slotHolder } from '../../src/docker/slot';

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
    Context.current().heartbeat(details);
  } catch {
    // Called outside an activity (unit use): nothing to report to.
  }
}

export async function inspectOrUndefined(docker: Docker, nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(nameOrId).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

export async function imageIdOrUndefined(docker: Docker, ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

export async function listProjectContainers(docker: Docker, project: string, extra: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`, ...extra] } });
}

/** slotHolder for a slot given by project, service and number, inspected (undefined when the slot is empty). */
export async function inspectSlotHolder(docker: Docker, spec: StackSpec, service: string, number: number): Promise<Docker.ContainerInspectInfo | undefined> {
  const canonical = containerName(spec.project, spec.services[service], number);
  const slot = await listProjectContainers(docker, spec.project, [`${Label.service}=${service}`, `${Label.containerNumber}=${number}`]);
  const holder = slotHolder(slot, canonical);
  return holder ? inspectOrUndefined(docker, holder.Id) : undefined;
}

export async function logTail(docker: Docker, id: string, lines: number): Promise<string> {
  try {
    const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(buf).trim();
  } catch {
    return '(logs unavailable)';
  }
}

/** Docker multiplexes stdout/stderr of non-TTY containers in 8-byte-headed frames. */
export function demuxLogs(buf: Buffer): string {
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= buf.length && (buf[offset] === 1 || buf[offset] === 2 || buf[offset] === 0)) {
    const size = buf.readUInt32BE(offset + 4);
    parts.push(buf.subarray(offset + 8, offset + 8 + size).toString('utf8'));
    offset += 8 + size;
  }
  return offset === 0 ? buf.toString('utf8') : parts.join('');
}

export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

export function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const json = (err as { json?: { message?: string } }).json;
    if (json?.message) return json.message;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

export function ignoreNotConnected(err: unknown): void {
  if (statusOf(err) === 404 || /is not connected/i.test(messageOf(err))) return;
  throw err;
}

export function ignoreAlreadyConnected(err: unknown): void {
  if (/already exists|already attached/i.test(messageOf(err))) return;
  throw err;
}
