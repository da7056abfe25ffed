/**
 * The Docker engine's answers read the same way everywhere: 404 is "not
 * there", error messages come from the engine's JSON body, log frames are
 * demultiplexed. Shared by the activities (activities/docker/, backup,
 * ledger) and the CLI's read-only commands; Node-side, no Temporal.
 */
import type Docker from 'dockerode';
import { Label } from '../model/labels';

/**
 * The read-only part of the engine API that observation needs. dockerode's
 * client is one; the CLI's `ps` uses a lighter one (./socket-reads.ts).
 */
export interface DockerReads {
  listContainers(options: { all?: boolean; filters?: Record<string, string[]> }): Promise<Docker.ContainerInfo[]>;
  getContainer(id: string): { inspect(): Promise<Docker.ContainerInspectInfo> };
  listNetworks(options: { filters?: Record<string, string[]> }): Promise<Docker.NetworkInspectInfo[]>;
  listVolumes(options: { filters?: Record<string, string[]> }): Promise<{ Volumes: Docker.VolumeInspectInfo[] | null }>;
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

export async function inspectOrUndefined(docker: Pick<DockerReads, 'getContainer'>, nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
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

export async function listProjectContainers(docker: Pick<DockerReads, 'listContainers'>, project: string, extra: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`, ...extra] } });
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
