/**
 * The dockflow worker: polls one task queue and runs deploy workflows and
 * Docker activities against the Docker engine it is given. One worker per
 * Docker host; the task queue names the host.
 */
import Docker from 'dockerode';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { Connection, WorkflowClient } from '@temporalio/client';
import { dataConverterFromEnv } from '../src/temporal/codec';
import type { DataConverter } from '@temporalio/common';
import { createActivities } from '../activities';
import type { TemporalSettings } from '../src/temporal/settings';

export interface DockflowWorkerOptions extends TemporalSettings {
  /** Default: dockerode's defaults (DOCKER_HOST or /var/run/docker.sock). */
  docker?: Docker;
  /** Revision ledger directory; default DOCKFLOW_STATE_DIR or /var/lib/dockflow. */
  stateDir?: string;
  /** A pre-built workflow bundle (tests, production images); built from workflows/ when absent. */
  workflowBundlePath?: string;
  connection?: NativeConnection;
  /** Default: from DOCKFLOW_ENCRYPTION_KEY / DOCKFLOW_ENCRYPTION_KEY_FILE (none: Temporal's plain default). */
  dataConverter?: DataConverter;
  /** Overrides for tests. */
  workerOptions?: Partial<WorkerOptions>;
}

export function workflowsSource(): string {
  return require.resolve('../workflows');
}

export async function createDockflowWorker(options: DockflowWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection; ownsConnection: boolean }> {
  const connection = options.connection ?? (await NativeConnection.connect({ address: options.address }));
  const docker = options.docker ?? new Docker();
  // Activities that look at other workflows share one client, connected on first use.
  let client: Promise<WorkflowClient> | undefined;
  // DOCKFLOW_ENCRYPTION_KEY(_FILE): payloads and failures encrypted (src/temporal/codec.ts).
  const dataConverter = options.dataConverter ?? dataConverterFromEnv();
  const temporal = () =>
    (client ??= Connection.connect({ address: options.address }).then((connection) => new WorkflowClient({ connection, namespace: options.namespace, dataConverter })));
  const worker = await Worker.create({
    connection,
    namespace: options.namespace,
    dataConverter,
    taskQueue: options.taskQueue,
    ...(options.workflowBundlePath ? { workflowBundle: { codePath: options.workflowBundlePath } } : { workflowsPath: workflowsSource() }),
    activities: createActivities({ docker, stateDir: options.stateDir, temporal }),
    ...options.workerOptions,
  });
  return { worker, connection, ownsConnection: !options.connection };
}
