/**
 * Workflow interceptors the worker installs (workers/worker.ts lists this
 * module). Every scheduled activity gets a one-line summary, which the
 * Temporal UI shows in the workflow's timeline instead of a bare type name.
 * Summaries are user metadata: they do not take part in replay's determinism
 * checks, so changing their wording never breaks a running workflow.
 */
import { isCancellation, metricMeter, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { activitySummary } from '../src/model/activity-summary';

// Names only: src/temporal/metrics.ts documents them (it cannot be imported here, it loads the worker runtime).
const operations = metricMeter.createCounter('dockflow_operations', 'operations', 'dockflow operations by type and outcome');
const durations = metricMeter.createHistogram('dockflow_operation_seconds', 'float', 's', 'workflow-time duration of dockflow operations');

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      // Counted once per run when it ends; metrics are not emitted while a history is replayed.
      async execute(input, next) {
        const record = (outcome: string) => {
          const { workflowType, startTime } = workflowInfo();
          operations.add(1, { operation: workflowType, outcome });
          durations.record((Date.now() - startTime.getTime()) / 1000, { operation: workflowType, outcome });
        };
        try {
          const result = await next(input);
          record('completed');
          return result;
        } catch (err) {
          record(isCancellation(err) ? 'cancelled' : 'failed');
          throw err;
        }
      },
    },
  ],
  outbound: [
    {
      scheduleActivity(input, next) {
        if (input.options.summary) return next(input);
        return next({ ...input, options: { ...input.options, summary: activitySummary(input.activityType, input.args) } });
      },
    },
  ],
});
