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
import type { TestBed } from './harness';

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
