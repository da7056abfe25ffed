/**
 * The multi-host test bed on one machine (src/dev/simulated-hosts.ts, which
 * `dockflow dev --hosts N` uses too): N simulated Docker hosts, each a
 * private dockerd in its own network namespace with its socket at
 * `<state dir>/hosts/<name>/docker.sock`, and a dockflow worker per host
 * (`--host <name>` with its labels) polling `<queue>@<name>`. A host's pull
 * of an image the main engine has loads it from there (no registry here).
 */
import type { SimulatedHost, SimulatedHostSpec } from '../../src/dev/simulated-hosts';
import * as simulated from '../../src/dev/simulated-hosts';
import { createDockerClient } from '../../workers/docker-client';
import * as hostWorkers from '../../workers/host-workers';
import { TEST_IMAGE, removeProject, startTestBed, type TestBed } from './harness';

export { loadImages, type SimulatedHost } from '../../src/dev/simulated-hosts';
export type { HostWorkers } from '../../workers/host-workers';

/** The hosts' daemons, keyed by the bed's state dir (a fresh temporary one per test bed), so beds never share one. */
export function startSimulatedHosts(stateDir: string, hosts: SimulatedHostSpec[]): Promise<SimulatedHost[]> {
  return simulated.startSimulatedHosts(stateDir, hosts, { clientFor: (socketPath) => createDockerClient({ socketPath }) });
}

/** A worker per host in this process, on the bed's Temporal server and shared queue. */
export function startHostWorkers(bed: TestBed, hosts: SimulatedHost[]): Promise<hostWorkers.HostWorkers> {
  return hostWorkers.startHostWorkers(
    { address: bed.address, namespace: 'default', taskQueue: bed.taskQueue, connection: bed.env.nativeConnection, workflowBundlePath: bed.bundlePath, notify: [] },
    hosts,
  );
}

/** Stop the daemons and delete their data roots and namespaces: a test bed is thrown away. */
export function stopSimulatedHosts(hosts: SimulatedHost[]): Promise<void> {
  return simulated.stopSimulatedHosts(hosts, { forget: true });
}

/** A test bed with simulated hosts, their workers, and what the CLI needs to reach them. */
export interface HostsBed {
  bed: TestBed;
  hosts: SimulatedHost[];
  workers: hostWorkers.HostWorkers;
  /** TEMPORAL_ADDRESS and DOCKFLOW_TASK_QUEUE for runCli. */
  env: Record<string, string>;
  /** Removes `projects` from every host, then stops the workers, the hosts and the Temporal server. */
  teardown(): Promise<void>;
}

/**
 * The bed most multi-host tests start from: a Temporal dev server, the
 * simulated `hosts`, each with the test image and none of `projects`'
 * containers (left by an earlier run), and a worker per host.
 */
export async function startHostsBed(taskQueue: string, hostSpecs: SimulatedHostSpec[], projects: string[]): Promise<HostsBed> {
  const bed = await startTestBed(taskQueue);
  let hosts: SimulatedHost[] = [];
  let workers: hostWorkers.HostWorkers;
  try {
    hosts = await startSimulatedHosts(bed.stateDir, hostSpecs);
    for (const host of hosts) {
      for (const project of projects) await removeProject(host.docker, project);
      await simulated.loadImages(bed.docker, host.docker, [TEST_IMAGE]);
    }
    workers = await startHostWorkers(bed, hosts);
  } catch (err) {
    // Half a bed is not left behind: the test's after() has nothing to tear down.
    await stopSimulatedHosts(hosts).catch(() => undefined);
    await bed.teardown();
    throw err;
  }
  return {
    bed,
    hosts,
    workers,
    env: { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: taskQueue },
    teardown: async () => {
      for (const host of hosts) for (const project of projects) await removeProject(host.docker, project).catch(() => undefined);
      await workers.stopAll();
      await stopSimulatedHosts(hosts);
      await bed.teardown();
    },
  };
}
