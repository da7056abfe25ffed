/**
 * The multi-host test bed on one machine: N simulated Docker hosts, each a
 * private dockerd in its own network namespace (test/chaos/daemon.ts), with
 * its socket at `<state dir>/hosts/<name>/docker.sock`, and a dockflow worker
 * per host (`--host <name>` with its labels) polling `<queue>@<name>`.
 * Images the main engine has are loaded into a host that lacks them
 * (`docker save | docker load`, through dockerode), since no registry is
 * reachable here.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startPrivateDaemon, type PrivateDaemon } from '../chaos/daemon';
import { createDockflowWorker, runWorkers } from '../../workers/worker';
import type { TestBed } from './harness';

export interface SimulatedHost {
  name: string;
  labels: Record<string, string>;
  docker: Docker;
  daemon: PrivateDaemon;
  /** The host worker's revision ledger. */
  stateDir: string;
}

/** Each simulated host's daemon state lives under these (one folder per host name). */
const RUN_ROOT = '/run/dockflow-hosts';
const DATA_ROOT = '/var/lib/dockflow-hosts';

export async function startSimulatedHosts(stateDir: string, hosts: { name: string; labels?: Record<string, string> }[]): Promise<SimulatedHost[]> {
  // One after another: several dockerds starting at once on 2 loaded cores time out.
  const started: SimulatedHost[] = [];
  for (const { name, labels = {} } of hosts) {
    const dir = path.join(stateDir, 'hosts', name);
    fs.mkdirSync(path.join(dir, 'state'), { recursive: true });
    const daemon = await startPrivateDaemon({
      runDir: path.join(RUN_ROOT, name),
      dataRoot: path.join(DATA_ROOT, name),
      socketPath: path.join(dir, 'docker.sock'),
      netns: `dockflow-${name}`,
    });
    started.push({ name, labels, docker: daemon.docker, daemon, stateDir: path.join(dir, 'state') });
  }
  return started;
}

/** Load `refs` from the main engine into `to` where it lacks them; returns the refs it loaded. */
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
    const archive = await from.getImage(ref).get();
    const progress = await to.loadImage(archive);
    await new Promise<void>((resolve, reject) => to.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve())));
    loaded.push(ref);
  }
  return loaded;
}

export interface HostWorkers {
  /** Stop one host's worker, as if its machine lost its worker process. */
  stop(name: string): Promise<void>;
  /** Start it again (it registers itself again). */
  start(name: string): Promise<void>;
  stopAll(): Promise<void>;
}

/**
 * A worker per host, in this process: `--host <name>` with the host's labels,
 * its engine and ledger. Only the first also polls the shared queue (one
 * process cannot poll a queue twice), so workflows and the lock's activities
 * run there.
 */
export async function startHostWorkers(bed: TestBed, hosts: SimulatedHost[]): Promise<HostWorkers> {
  const running = new Map<string, { stop: () => void; done: Promise<void> }>();
  const start = async (name: string) => {
    const index = hosts.findIndex((h) => h.name === name);
    const host = hosts[index];
    const { worker, hostWorker } = await createDockflowWorker({
      address: bed.address,
      namespace: 'default',
      taskQueue: bed.taskQueue,
      connection: bed.env.nativeConnection,
      docker: host.docker,
      workflowBundlePath: bed.bundlePath,
      stateDir: host.stateDir,
      host: { name: host.name, labels: host.labels },
      // One process polls the shared queue once: the first host's worker does, as a process per host would each.
      pollSharedQueue: index === 0,
    });
    running.set(name, {
      done: runWorkers(worker, hostWorker),
      stop: () => {
        for (const w of [worker, hostWorker]) if (w && w.getState() === 'RUNNING') w.shutdown();
      },
    });
  };
  const stop = async (name: string) => {
    const w = running.get(name);
    if (!w) return;
    running.delete(name);
    w.stop();
    await w.done.catch(() => undefined);
  };
  for (const host of hosts) await start(host.name);
  return {
    stop,
    start,
    stopAll: async () => {
      for (const name of [...running.keys()]) await stop(name);
    },
  };
}

export async function stopSimulatedHosts(hosts: SimulatedHost[]): Promise<void> {
  for (const host of hosts) await host.daemon.stop();
}
