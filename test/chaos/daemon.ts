/**
 * The chaos harness's private Docker daemon (src/dev/private-daemon.ts), so
 * that restarting dockerd (one of the faults) stops only the chaos project's
 * containers and not whatever else runs on the machine's main engine.
 */
import { startPrivateDaemon, type DaemonPlace, type PrivateDaemon } from '../../src/dev/private-daemon';
export { startPrivateDaemon, type DaemonPlace, type PrivateDaemon } from '../../src/dev/private-daemon';

/**
 * The chaos harness's daemon. An instance name (letters, digits, dashes; default
 * DOCKFLOW_CHAOS_INSTANCE, else none) gives a daemon of its own (socket, data root, exec
 * root, namespace), so two chaos runs on one machine never share, or restart, one.
 */
export function chaosPlace(instance: string): DaemonPlace {
  if (!/^[a-z0-9-]*$/i.test(instance)) throw new Error(`a chaos daemon instance is letters, digits and dashes, not ${JSON.stringify(instance)}`);
  const suffix = instance ? `-${instance}` : '';
  return {
    runDir: `/run/dockflow-chaos${suffix}`,
    dataRoot: `/var/lib/dockflow-chaos${suffix}`,
    socketPath: `/run/dockflow-chaos${suffix}/docker.sock`,
    netns: `dockflow-chaos${suffix}`,
  };
}

export type ChaosDaemon = PrivateDaemon;

export function startChaosDaemon(instance = process.env.DOCKFLOW_CHAOS_INSTANCE ?? ''): Promise<ChaosDaemon> {
  return startPrivateDaemon(chaosPlace(instance));
}

