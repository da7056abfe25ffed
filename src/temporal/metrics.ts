/**
 * Prometheus metrics of the worker process: Temporal's own runtime metrics
 * (task latencies, poll counts, activity and workflow outcomes) plus
 * dockflow's counters, which workflows and activities emit through the same
 * meter (workflows/interceptors.ts, workflows/notify.ts, activities/notify.ts). Off unless DOCKFLOW_METRICS_ADDRESS is set;
 * then `GET http://<address>/metrics` serves them.
 */
import { Runtime } from '@temporalio/worker';

/** Operations by workflow type and outcome (completed, failed, cancelled). */
export const OPERATIONS_METRIC = 'dockflow_operations';
/** Workflow-time duration of operations, by type and outcome. */
export const OPERATION_SECONDS_METRIC = 'dockflow_operation_seconds';
/** Notifications per event and target, by target kind and outcome (delivered, lost): workflows/notify.ts. */
export const NOTIFICATIONS_METRIC = 'dockflow_notifications';
/** Notification delivery attempts, by target kind and outcome (delivered, failed): activities/notify.ts. */
export const NOTIFICATION_ATTEMPTS_METRIC = 'dockflow_notification_attempts';

/**
 * Install the process-wide Temporal runtime with a Prometheus exporter. Must
 * run before the first connection or worker is created: the runtime can be
 * installed once per process.
 */
export function installMetricsRuntime(env: Record<string, string | undefined> = process.env): string | undefined {
  const bindAddress = env.DOCKFLOW_METRICS_ADDRESS;
  if (!bindAddress) return undefined;
  if (!/^[^:]+:\d+$/.test(bindAddress)) throw new Error(`DOCKFLOW_METRICS_ADDRESS must be host:port (e.g. 0.0.0.0:9464), got "${bindAddress}"`);
  Runtime.install({
    telemetryOptions: {
      metrics: {
        prometheus: { bindAddress, countersTotalSuffix: true, useSecondsForDurations: true },
      },
    },
  });
  return bindAddress;
}
