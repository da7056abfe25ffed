/**
 * Worker process entry point: `tsx workers/main.ts` or `dockflow worker`.
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DOCKFLOW_TEMPORAL_TLS_* and _API_KEY
 * (src/temporal/settings.ts), DOCKFLOW_TASK_QUEUE, DOCKER_HOST and
 * DOCKFLOW_WORKFLOW_BUNDLE configure it; DOCKFLOW_METRICS_ADDRESS (host:port)
 * serves Prometheus metrics. SIGINT/SIGTERM shut it down
 * gracefully: running activities finish or are handed back to Temporal.
 */
import * as v8 from 'node:v8';
import { TemporalSettingsError, temporalSettings } from '../src/temporal/settings';
import { createDockflowWorker, runWorkers } from './worker';
import { assertHostName, hostTaskQueue, parseHostLabel, type HostInfo } from '../src/model/hosts';
import { installMetricsRuntime } from '../src/temporal/metrics';
import { keysFromEnv } from '../src/temporal/codec';
import { NotifyConfigError, parseNotifyTargets } from '../src/notify/targets';

/** What a worker without a key exposes, said at its start (stderr). */
export const PLAIN_PAYLOADS_WARNING = [
  'dockflow worker: WARNING: no encryption key (DOCKFLOW_ENCRYPTION_KEY or DOCKFLOW_ENCRYPTION_KEY_FILE).',
  "  Workflow inputs, activity inputs and results go to Temporal in plain text: the environment values of every",
  "  stack (environment:, env_file:, .env) and any secret written in a compose file are stored in Temporal's",
  '  history, readable by anyone with access to Temporal (its UI, CLI, API or database).',
  '  Set the same key on this worker and wherever the CLI runs (README: Secrets in Temporal\'s history).',
].join('\n');

/**
 * `dockflow worker --host NAME --label K=V` (or DOCKFLOW_HOST and
 * DOCKFLOW_HOST_LABELS="K=V,K2=V2"): this worker is one of several Docker hosts.
 */
export function hostFromEnv(env: Record<string, string | undefined>, flags: { host?: string; labels?: string[] } = {}): HostInfo | undefined {
  const name = flags.host ?? (env.DOCKFLOW_HOST || undefined);
  const labelTexts = flags.labels ?? (env.DOCKFLOW_HOST_LABELS ? env.DOCKFLOW_HOST_LABELS.split(',').filter(Boolean) : []);
  if (name === undefined) {
    if (labelTexts.length > 0) throw new Error('--label (DOCKFLOW_HOST_LABELS) needs --host (DOCKFLOW_HOST)');
    return undefined;
  }
  return { name: assertHostName(name, '--host'), labels: Object.fromEntries(labelTexts.map(parseHostLabel)) };
}

/**
 * DOCKFLOW_WORKFLOW_HEAP_MIB: a limit (MiB) on the old generation of the
 * isolates the worker creates, its workflow thread's above all, whose heap
 * V8 otherwise lets grow towards a default limit of several GiB before it
 * collects much (bench/RESULTS.md, Scale). Unset: V8's default.
 */
export function workflowHeapMiB(env: Record<string, string | undefined>): number | undefined {
  const text = env.DOCKFLOW_WORKFLOW_HEAP_MIB;
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 64) throw new Error(`DOCKFLOW_WORKFLOW_HEAP_MIB=${text}: expected a whole number of MiB, at least 64`);
  return n;
}

/**
 * DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB: the size of each of the two semi-spaces
 * of the young generation of the isolates the worker creates, its workflow
 * thread's above all (V8's default: 16 MiB, 32 MiB of young generation once
 * workflows start at once). Unset: V8's default. 4 was tried as the default
 * and did not lower the 50-deploy peak (bench/RESULTS.md, Scale).
 */
export function workflowSemiSpaceMiB(env: Record<string, string | undefined>): number | undefined {
  const text = env.DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB;
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB=${text}: expected a whole number of MiB from 1 to 64`);
  return n;
}

export async function runWorkerProcess(env: Record<string, string | undefined> = process.env, flags: { host?: string; labels?: string[] } = {}): Promise<void> {
  const host = hostFromEnv(env, flags);
  const settings = temporalSettings(env);
  // Before the worker exists: V8 flags set now apply to the isolates created after, the workflow thread's among them.
  const heapMiB = workflowHeapMiB(env);
  if (heapMiB !== undefined) v8.setFlagsFromString(`--max-old-space-size=${heapMiB}`);
  const semiSpaceMiB = workflowSemiSpaceMiB(env);
  if (semiSpaceMiB !== undefined) v8.setFlagsFromString(`--max-semi-space-size=${semiSpaceMiB}`);
  if (keysFromEnv(env).length === 0) console.error(PLAIN_PAYLOADS_WARNING);
  // Before any connection: the runtime (and its Prometheus exporter) is process-wide.
  const metrics = installMetricsRuntime(env);
  if (metrics) console.error(`dockflow worker: Prometheus metrics on http://${metrics}/metrics`);
  // Checked before anything else starts; labels only (target URLs may hold tokens).
  const notify = parseNotifyTargets(env);
  if (notify.length) console.error(`dockflow worker: notifications to ${notify.map((t) => t.label).join(', ')}`);
  const { worker, hostWorker, connection } = await createDockflowWorker({ ...settings, notify, workflowBundlePath: env.DOCKFLOW_WORKFLOW_BUNDLE || undefined, ...(host ? { host } : {}) });
  if (host) console.error(`dockflow worker: host ${host.name} polls task queue "${hostTaskQueue(settings.taskQueue, host.name)}" for its Docker steps`);
  console.error(`dockflow worker: polling task queue "${settings.taskQueue}" on ${settings.address} (namespace ${settings.namespace})`);
  try {
    // Worker.run() resolves after SIGINT/SIGTERM, once in-flight work is handed back.
    await runWorkers(worker, hostWorker);
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorkerProcess().catch((err) => {
    // Bad configuration: the message says what to fix; a stack trace would only bury it.
    if (err instanceof NotifyConfigError || err instanceof TemporalSettingsError) {
      console.error(`dockflow worker: ${err.message}`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  });
}
