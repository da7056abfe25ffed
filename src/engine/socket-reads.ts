/**
 * The engine reads `dockflow ps` makes (list and inspect), straight over the
 * local Docker socket with node:http. Loading dockerode (docker-modem, ssh2,
 * its crypto) costs about as much CPU as the rest of `ps` before Temporal;
 * four GET requests do not need it. Any other engine address (DOCKER_HOST
 * tcp:// or ssh://, TLS) goes through dockerode, which knows them all.
 *
 * Same requests as dockerode sends (unversioned paths, filters as JSON in
 * the query) and the same failures: an error with the HTTP status in
 * `statusCode` and the engine's JSON body in `json`, so statusOf/messageOf
 * (./reads.ts) read both alike.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type Docker from 'dockerode';
import type { DockerReads } from './reads';

const DEFAULT_SOCKET = '/var/run/docker.sock';

/** The Unix socket dockerode would use for this environment, or undefined when it would use anything else. */
export function localSocketPath(env: Record<string, string | undefined>): string | undefined {
  if (env.DOCKER_TLS_VERIFY || env.DOCKER_CERT_PATH) return undefined;
  const host = env.DOCKER_HOST;
  if (!host) return DEFAULT_SOCKET;
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

/** The query string dockerode builds: `filters` as JSON, other values as they are. */
export function engineQuery(options: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    params.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
  }
  const query = params.toString();
  return query ? `?${query}` : '';
}

interface EngineError extends Error {
  statusCode: number;
  json?: { message?: string };
}

function get<T>(socketPath: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    // Its own connection, not the global agent's: the agent checks whether the Host header is an IP
    // address, and Node 20's IPv6 pattern costs 10 to 20 ms of CPU the first time it runs.
    const request = http.get({ path, headers: { Host: 'docker' }, createConnection: () => net.createConnection(socketPath) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(body as T);
        const json = body as { message?: string } | undefined;
        const err = new Error(`(HTTP code ${status}) ${json?.message ?? text.trim()}`) as EngineError;
        err.statusCode = status;
        if (json) err.json = json;
        reject(err);
      });
    });
    request.on('error', reject);
  });
}

/** Engine reads over a Unix socket (see localSocketPath). */
export function socketReads(socketPath: string): DockerReads {
  return {
    listContainers: (options) => get(socketPath, `/containers/json${engineQuery(options)}`),
    getContainer: (id) => ({ inspect: () => get(socketPath, `/containers/${encodeURIComponent(id)}/json`) }),
    listNetworks: (options) => get(socketPath, `/networks${engineQuery(options)}`),
    listVolumes: (options) => get(socketPath, `/volumes${engineQuery(options)}`),
  };
}

/** The lightest client that reads this environment's engine: the socket directly when it is local, else dockerode. */
export async function engineReads(env: Record<string, string | undefined> = process.env): Promise<DockerReads> {
  const socketPath = localSocketPath(env);
  if (socketPath) return socketReads(socketPath);
  const { default: DockerClient } = await import('dockerode');
  return new DockerClient() as Docker;
}
