/**
 * The Docker client a dockflow worker acts through: dockerode's defaults
 * (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, as the docker CLI reads
 * them) with a new connection for every request.
 *
 * Why not reuse connections: a Docker daemon that is shutting down closes its
 * listener but keeps serving requests on the connections it had already
 * accepted until it exits, and its shutdown lasts as long as its slowest
 * container takes to stop (up to that container's stop timeout; a container
 * signalled while it was still starting ignores SIGTERM). A client that
 * keeps its connections open goes on working against that daemon: the
 * containers it starts after the daemon stopped all the others outlive the
 * daemon, and the next one (without live-restore) kills them while it boots
 * and counts them as stopped by hand, so `restart: unless-stopped` never
 * brings them back. A deploy then finished, verified, on a dying daemon,
 * and left its containers exited (the bounded chaos test in CI, seed 3
 * run 6). With one connection per request, the first request after the
 * listener closed fails as "the engine is unreachable", and the activity
 * waits for the next daemon and carries on against it (activities/index.ts).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { inspect } from 'node:util';
import Docker from 'dockerode';

export function createDockerClient(options: Docker.DockerOptions = {}): Docker {
  const docker = new Docker(options);
  const modem = docker.modem as unknown as { protocol?: string; agent?: http.Agent };
  // ssh brings its own agent (one per request already); http(s) get one that never keeps a socket.
  if (modem.agent === undefined && modem.protocol !== 'ssh') {
    modem.agent = withShortInspect(modem.protocol === 'https' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false }));
  }
  return docker;
}

/**
 * docker-modem formats every request's options with util.inspect (hidden
 * properties, unlimited depth) for its debug log, whether that log is on or
 * not. An agent's open sockets reach much of the process from there: in a
 * worker, formatting one request took seconds and starved the heartbeats.
 */
function withShortInspect<T extends http.Agent>(agent: T): T {
  Object.defineProperty(agent, inspect.custom, { value: () => `${agent.constructor.name} { keepAlive: false }` });
  return agent;
}
