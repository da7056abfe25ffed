/**
 * Several Docker hosts on one machine: `dockflow dev --hosts N`, the
 * multi-host integration tests, the multi-host chaos mode and bench.
 *
 * A simulated host is a private dockerd in its own network namespace
 * (./private-daemon.ts) with its socket at `<state dir>/hosts/<name>/docker.sock`,
 * and its worker's revision ledger beside it; workers/host-workers.ts starts
 * a dockflow worker per host with `--host <name>` and the host's labels, as
 * on a real machine.
 *
 * Images: a real host pulls or builds; a simulated one has no registry, so
 * its Docker client treats the machine's main engine as its registry: a pull
 * of an image the main engine has loads that image (`docker save | docker
 * load`, same image ID), and only an image the main engine lacks goes to the
 * real pull. A deploy therefore finds on each host the images it needs, when
 * it needs them, without copying every image to every host up front.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { assertHostName } from '../model/hosts';
import { startPrivateDaemon, type DaemonPlace, type PrivateDaemon } from './private-daemon';

export interface SimulatedHostSpec {
  name: string;
  labels?: Record<string, string>;
}

export interface SimulatedHost {
  name: string;
  labels: Record<string, string>;
  /** The host's engine, as its worker reaches it (a pull reads from the main engine first). */
  docker: Docker;
  daemon: PrivateDaemon;
  /** Where the daemon keeps its state (./private-daemon.ts). */
  place: DaemonPlace;
  /** The host worker's revision ledger. */
  stateDir: string;
}

/** `host-1` … `host-N`, the names `dockflow dev --hosts N` gives. */
export function numberedHosts(count: number): SimulatedHostSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `host-${i + 1}` }));
}

/**
 * Where a simulated host's daemon keeps its state. Keyed by the state dir as
 * well as the name: two test beds (or a dev setup and a test) that both have
 * a `host-1` get two daemons, and neither stops the other's (a daemon that
 * does not answer on this place's socket is terminated before a new one
 * starts). The run dir stays short: containerd's sockets live under it.
 */
export function simulatedHostPlace(stateDir: string, name: string): DaemonPlace {
  const key = `${createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 8)}-${assertHostName(name)}`;
  return {
    runDir: `/run/dockflow-hosts/${key}`,
    dataRoot: `/var/lib/dockflow-hosts/${key}`,
    socketPath: path.join(stateDir, 'hosts', name, 'docker.sock'),
    netns: `dfh-${key}`,
  };
}

/**
 * A Docker client for a simulated host whose pulls read from `registry` (the
 * main engine) when it has the image, and from the real registry otherwise.
 * `docker` is the host's client as the worker would make it (one connection
 * per request: workers/docker-client.ts); it is changed in place and returned.
 */
export function simulatedHostClient(docker: Docker, registry: Docker): Docker {
  const pull = docker.pull.bind(docker) as (ref: string, options?: object) => Promise<NodeJS.ReadableStream>;
  const fromRegistry = async (ref: string, options?: object): Promise<NodeJS.ReadableStream> => {
    const present = await registry
      .getImage(ref)
      .inspect()
      .then(() => true)
      .catch(() => false);
    if (!present) return pull(ref, options);
    // The load's progress stream reads like a pull's to the caller (docker-modem's followProgress).
    return docker.loadImage(await registry.getImage(ref).get());
  };
  (docker as unknown as { pull: typeof fromRegistry }).pull = fromRegistry;
  return docker;
}

/**
 * Start (or find running) the daemons of `hosts`, one after another: several
 * dockerds starting at once on a loaded 2-core machine time out.
 */
export async function startSimulatedHosts(
  stateDir: string,
  hosts: SimulatedHostSpec[],
  options: { registry?: Docker; clientFor?: (socketPath: string) => Docker } = {},
): Promise<SimulatedHost[]> {
  const registry = options.registry ?? new Docker();
  const clientFor = options.clientFor ?? ((socketPath: string) => new Docker({ socketPath }));
  const started: SimulatedHost[] = [];
  for (const { name, labels = {} } of hosts) {
    const dir = path.join(stateDir, 'hosts', name);
    fs.mkdirSync(path.join(dir, 'state'), { recursive: true });
    const place = simulatedHostPlace(stateDir, name);
    const daemon = await startPrivateDaemon(place);
    started.push({ name, labels, docker: simulatedHostClient(clientFor(daemon.socketPath), registry), daemon, place, stateDir: path.join(dir, 'state') });
  }
  return started;
}

/** Load `refs` from `from` into `to` where `to` lacks them (or has another image under the name); returns the refs it loaded. */
export async function loadImages(from: Docker, to: Docker, refs: string[]): Promise<string[]> {
  const loaded: string[] = [];
  for (const ref of refs) {
    const want = (await from.getImage(ref).inspect()).Id;
    const have = await to
      .getImage(ref)
      .inspect()
      .then((i) => i.Id)
      .catch(() => undefined);
    if (have === want) continue;
    const progress = await to.loadImage(await from.getImage(ref).get());
    await new Promise<void>((resolve, reject) => to.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve())));
    loaded.push(ref);
  }
  return loaded;
}

/**
 * Stop the hosts' daemons (their containers stop with them). With `forget`,
 * also delete each daemon's data root and namespace: a throw-away bed
 * (tests, benches) leaves nothing behind; `dockflow dev` keeps them, so the
 * next start finds its images and stopped containers again.
 */
export async function stopSimulatedHosts(hosts: SimulatedHost[], options: { forget?: boolean } = {}): Promise<void> {
  for (const host of hosts) {
    await host.daemon.stop();
    if (options.forget) forgetPlace(host.place);
  }
}

/** Delete a stopped daemon's data root, run dir and network namespace. */
export function forgetPlace(place: DaemonPlace): void {
  // dockerd bind-mounts its data root onto itself, and a killed daemon's container mounts
  // stay behind too: such mounts outlive the daemon and make the directory busy.
  for (const mount of mountsUnder([place.dataRoot, place.runDir])) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      // Gone already (a lazy unmount of its parent took it).
    }
  }
  fs.rmSync(place.dataRoot, { recursive: true, force: true });
  fs.rmSync(place.runDir, { recursive: true, force: true });
  try {
    execFileSync('ip', ['netns', 'delete', place.netns], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

/** Mount points at or under any of `roots`, deepest first. */
function mountsUnder(roots: string[]): string[] {
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => !!point && roots.some((root) => point === root || point.startsWith(`${root}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
