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
import { createDockerClient } from './docker-client';
import { sdkConnectionOptions, type TemporalSettings } from '../src/temporal/settings';
import { bundleInChildProcess } from './bundle';
import { parseNotifyTargets, type NotifyTarget } from '../src/notify/targets';
import { ensureNamespace, ensureSearchAttributes, NEW_NAMESPACE_GRACE_MS } from '../src/temporal/setup';
import { reclaimFromDeadWorkers, workerIdentity } from './reclaim';
import { hostTaskQueue, type HostInfo } from '../src/model/hosts';
import { registerHost } from '../src/client/hosts';
import { connectFailure } from '../src/client/connect';

export interface DockflowWorkerOptions extends TemporalSettings {
  /** Default: dockerode's defaults (DOCKER_HOST or /var/run/docker.sock), one connection per request (workers/docker-client.ts). */
  docker?: Docker;
  /** Revision ledger directory; default DOCKFLOW_STATE_DIR or /var/lib/dockflow. */
  stateDir?: string;
  /** A pre-built workflow bundle (tests, production images); built from workflows/ when absent. */
  workflowBundlePath?: string;
  connection?: NativeConnection;
  /** Default: from DOCKFLOW_ENCRYPTION_KEY / DOCKFLOW_ENCRYPTION_KEY_FILE (none: Temporal's plain default). */
  dataConverter?: DataConverter;
  /** Register dockflow's search attributes when missing (default true); the worker refuses to start when it cannot. */
  ensureSearchAttributes?: boolean;
  /** Take back at start what a dead worker of this host held (workers/reclaim.ts); default true. */
  reclaim?: boolean;
  /** Notification targets; default parsed from DOCKFLOW_NOTIFY (and DOCKFLOW_NOTIFY_SECRET), which must be valid for the worker to start. */
  notify?: readonly NotifyTarget[];
  /** Overrides for tests. */
  workerOptions?: Partial<WorkerOptions>;
  /**
   * This worker's Docker host among several (`dockflow worker --host`): it
   * also polls the host's own task queue (`<taskQueue>@<name>`) for the
   * Docker steps routed there, and registers the host with its labels.
   */
  host?: HostInfo;
  /**
   * With `host`: also poll the shared queue (workflows and activities), as a
   * worker process does; default true. One process cannot poll one queue
   * twice, so a test running several host workers in one process lets only
   * one of them poll it.
   */
  pollSharedQueue?: boolean;
}

export function workflowsSource(): string {
  return require.resolve('../workflows');
}

/** Workflow interceptor modules: given to Worker.create, and to bundleWorkflowCode for pre-built bundles. */
export function workflowInterceptorModules(): string[] {
  return [require.resolve('../workflows/interceptors')];
}

/**
 * The bundle's source map: file and line of each frame (what a workflow's stack
 * trace shows), without columns and without the sources' text. The SDK's
 * default (a full inline map with every source) made the bundle 4.4 MB, of
 * which 2.8 MB map, parsed in both the worker's main thread and its workflow
 * thread: about 20 MiB of an idle worker (bench/RESULTS.md, Scale).
 */
export const SLIM_DEVTOOL = 'inline-nosources-cheap-module-source-map';

export function slimSourceMap<C extends { devtool?: unknown }>(config: C): C {
  return { ...config, devtool: SLIM_DEVTOOL };
}

/**
 * Modules evaluated once per worker and shared by every workflow execution
 * (zod, the model, the planner; workflows/shared-modules.ts says which may be):
 * otherwise each cached workflow holds its own evaluation of them.
 */
export function sharedWorkflowModules(): string[] {
  return [require.resolve('../workflows/shared-modules')];
}

/** What bundleWorkflowCode needs to build the bundle this worker would build itself. */
export function workflowBundleOptions(): { workflowsPath: string; workflowInterceptorModules: string[]; preloadModules: string[]; webpackConfigHook: typeof slimSourceMap } {
  return { workflowsPath: workflowsSource(), workflowInterceptorModules: workflowInterceptorModules(), preloadModules: sharedWorkflowModules(), webpackConfigHook: slimSourceMap };
}

/** The worker's connection, with connect.ts's words when it fails (a TLS handshake refused, UNAUTHENTICATED). */
async function connectNative(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(sdkConnectionOptions(settings));
  } catch (err) {
    throw await connectFailure(settings, err);
  }
}

export async function createDockflowWorker(
  options: DockflowWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection; ownsConnection: boolean; notify: readonly NotifyTarget[]; hostWorker?: Worker }> {
  // First: a bad DOCKFLOW_NOTIFY stops the worker before it takes any work it could not report.
  const notify = options.notify ?? parseNotifyTargets(process.env);
  const connection = options.connection ?? (await connectNative(options));
  // Workflows upsert DockflowProject/DockflowOperation; unknown attributes would fail their tasks forever.
  if (options.ensureSearchAttributes !== false) {
    // A fresh production cluster has no namespace yet: the worker is the first to need one.
    const created = await ensureNamespace(connection.workflowService, options.namespace);
    if (created) console.error(`dockflow worker: created namespace "${options.namespace}"`);
    await ensureSearchAttributes(connection.operatorService, options.namespace, created ? NEW_NAMESPACE_GRACE_MS : 0);
  }
  const docker = options.docker ?? createDockerClient();
  // Activities that look at other workflows share one client, connected on first use with the same TLS and API key.
  let client: Promise<WorkflowClient> | undefined;
  // DOCKFLOW_ENCRYPTION_KEY(_FILE): payloads and failures encrypted (src/temporal/codec.ts).
  const dataConverter = options.dataConverter ?? dataConverterFromEnv();
  const temporal = () =>
    (client ??= Connection.connect(sdkConnectionOptions(options)).then((connection) => new WorkflowClient({ connection, namespace: options.namespace, dataConverter })));
  const identity = workerIdentity();
  // Beside the worker's own start-up (bundle, runtime), so the retries it triggers are due by the time it polls.
  const reclaiming =
    options.reclaim === false
      ? Promise.resolve()
      : reclaimFromDeadWorkers({ connection, namespace: options.namespace, taskQueue: options.taskQueue, identity, log: console.error }).then(
          ({ reclaimed, examined, stoppedBy }) => {
            for (const r of reclaimed) console.error(`dockflow worker: took back ${r.activityType} (activity ${r.activityId}) of ${r.workflowId} from ${r.deadWorker}, which is gone`);
            if (stoppedBy) {
              console.error(
                `dockflow worker: looked at ${examined} running workflow(s) for work of dead workers and stopped (${stoppedBy === 'timeLimit' ? 'time limit' : 'workflow limit'}); the rest are retried after their heartbeat timeout`,
              );
            }
          },
          (err: Error) => console.error(`dockflow worker: could not look for work of dead workers (${err.message}); their steps are retried after the heartbeat timeout`),
        );
  const activities = createActivities({ docker, stateDir: options.stateDir, temporal, notify });
  // The host's queue carries only activities: workflows stay on the shared queue.
  const createHostWorker = (host: HostInfo) =>
    Worker.create({
      connection,
      identity,
      namespace: options.namespace,
      dataConverter,
      taskQueue: hostTaskQueue(options.taskQueue, host.name),
      activities,
      maxHeartbeatThrottleInterval: '1s',
      ...options.workerOptions,
    });
  if (options.host && options.pollSharedQueue === false) {
    const worker = await createHostWorker(options.host);
    await reclaiming;
    await registerHost(await temporal(), options.taskQueue, options.host);
    return { worker, connection, ownsConnection: !options.connection, notify };
  }
  // Without a pre-built bundle, webpack runs in a child process (workers/bundle.ts); in this one only if that fails.
  const built = options.workflowBundlePath
    ? undefined
    : await bundleInChildProcess({ ...workflowBundleOptions(), failureConverterPath: dataConverter?.failureConverterPath, devtool: SLIM_DEVTOOL }).catch((err: Error) => {
        console.error(`dockflow worker: ${err.message}; bundling in this process instead`);
        return undefined;
      });
  const bundlePath = options.workflowBundlePath ?? built?.file;
  const worker = await Worker.create({
    connection,
    identity,
    namespace: options.namespace,
    dataConverter,
    taskQueue: options.taskQueue,
    ...(bundlePath
      ? { workflowBundle: { codePath: bundlePath } }
      : { workflowsPath: workflowsSource(), interceptors: { workflowModules: workflowInterceptorModules() }, bundlerOptions: { webpackConfigHook: slimSourceMap, preloadModules: sharedWorkflowModules() } }),
    activities,
    // The SDK sends heartbeats at most every 0.8 × the heartbeat timeout by default (3.2 s
    // for 4 s): once a second keeps the server's view fresh, so a dead worker's step is
    // retried sooner and a cancellation reaches a running step within about a second.
    maxHeartbeatThrottleInterval: '1s',
    ...workflowCacheOptions(process.env),
    ...options.workerOptions,
  }).finally(() => built?.remove());
  await reclaiming;
  if (!options.host) return { worker, connection, ownsConnection: !options.connection, notify };
  const hostWorker = await createHostWorker(options.host);
  // After the workers exist (the registration workflow needs the shared queue's worker to run).
  await registerHost(await temporal(), options.taskQueue, options.host);
  return { worker, connection, ownsConnection: !options.connection, notify, hostWorker };
}

/** Run the worker and its host worker, if any, until shut down; a shutdown of either stops both. */
export async function runWorkers(worker: Worker, hostWorker?: Worker): Promise<void> {
  if (!hostWorker) return worker.run();
  const stopBoth = () => {
    for (const w of [worker, hostWorker]) if (w.getState() === 'RUNNING') w.shutdown();
  };
  await Promise.all([worker.run().finally(stopBoth), hostWorker.run().finally(stopBoth)]);
}

/** DOCKFLOW_MAX_CACHED_WORKFLOWS: workflows kept in the worker's memory between their tasks (others are replayed from history). */
export function workflowCacheOptions(env: Record<string, string | undefined>): Pick<WorkerOptions, 'maxCachedWorkflows'> {
  const text = env.DOCKFLOW_MAX_CACHED_WORKFLOWS;
  if (text === undefined || text === '') return {};
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`DOCKFLOW_MAX_CACHED_WORKFLOWS=${text}: expected a whole number (0 turns the cache off)`);
  return { maxCachedWorkflows: n };
}
