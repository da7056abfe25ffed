/**
 * A dockflow worker per simulated host (src/dev/simulated-hosts.ts), in one
 * process: what `dockflow dev --hosts N`, the multi-host tests and the
 * benches run in place of one `dockflow worker --host NAME` per machine.
 */
import type { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { NotifyTarget } from '../src/notify/targets';
import type { SimulatedHost } from '../src/dev/simulated-hosts';
import { createDockflowWorker, runWorkers } from './worker';

export interface HostWorkersOptions {
  address: string;
  namespace: string;
  /** The shared queue; each host's worker also polls `<queue>@<host>`. */
  taskQueue: string;
  connection: NativeConnection;
  workflowBundlePath?: string;
  dataConverter?: DataConverter;
  notify?: readonly NotifyTarget[];
}

export interface HostWorkers {
  /** Stop one host's worker, as if its machine lost its worker process. */
  stop(name: string): Promise<void>;
  /** Start it again (it registers itself again). */
  start(name: string): Promise<void>;
  stopAll(): Promise<void>;
  /** Resolves once every worker running now has stopped (a SIGINT stops them all). */
  settled(): Promise<void>;
}

/**
 * A worker per host, in this process: `--host <name>` with the host's labels,
 * its engine and its ledger. Only the first host's worker also polls the
 * shared queue (one process cannot poll a queue twice), so workflows and the
 * project lock's activities run there, as they would on any one of the
 * hosts' worker processes.
 */
export async function startHostWorkers(options: HostWorkersOptions, hosts: SimulatedHost[]): Promise<HostWorkers> {
  const running = new Map<string, { stop: () => void; done: Promise<void> }>();
  const start = async (name: string) => {
    const index = hosts.findIndex((h) => h.name === name);
    const host = hosts[index];
    const { worker, hostWorker } = await createDockflowWorker({
      address: options.address,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      connection: options.connection,
      docker: host.docker,
      stateDir: host.stateDir,
      host: { name: host.name, labels: host.labels },
      pollSharedQueue: index === 0,
      ...(options.workflowBundlePath ? { workflowBundlePath: options.workflowBundlePath } : {}),
      ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
      ...(options.notify ? { notify: options.notify } : {}),
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
    settled: async () => {
      await Promise.all([...running.values()].map((w) => w.done.catch(() => undefined)));
    },
  };
}
