/**
 * Workflow interceptors the worker installs (workers/worker.ts lists this
 * module). Every scheduled activity, local or not, gets a one-line summary, which the
 * Temporal UI shows in the workflow's timeline instead of a bare type name.
 * Summaries are user metadata: they do not take part in replay's determinism
 * checks, so changing their wording never breaks a running workflow.
 * Every operation's outcome is notified from here, once per run
 * (workflows/notify.ts).
 */
import { isCancellation, metricMeter, TemporalFailure, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { activitySummary } from '../src/model/activity-summary';
import { isNotifyOperation } from '../src/notify/event';
import type * as Notify from './notify';

/**
 * workflows/notify.ts, loaded by the operations that notify only. The SDK
 * evaluates this module and everything it imports once per workflow
 * execution: imported at the top, notify.ts (and through it the activities'
 * options, zod and the model) cost every cached workflow, a project lock or a
 * host registration too, about 3 MiB (bench/RESULTS.md, Scale).
 */
function notifyOutcome(args: unknown[], outcome: Parameters<typeof Notify.notifyOutcome>[1]): Promise<void> {
  // notifyOutcome returns at once for the other types: the same commands either way.
  if (!isNotifyOperation(workflowInfo().workflowType)) return Promise.resolve();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return (require('./notify') as typeof Notify).notifyOutcome(args, outcome);
}

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
        let result: unknown;
        try {
          result = await next(input);
        } catch (err) {
          record(isCancellation(err) ? 'cancelled' : 'failed');
          // Only a TemporalFailure ends the run; any other error fails the workflow task, which is retried, so nothing ended yet.
          if (err instanceof TemporalFailure) await notifyOutcome(input.args, { error: err });
          throw err;
        }
        record('completed');
        // Operation workflows notify DOCKFLOW_NOTIFY's targets of their outcome (workflows/notify.ts); other types return at once.
        await notifyOutcome(input.args, { result });
        return result;
      },
    },
  ],
  outbound: [
    {
      scheduleActivity(input, next) {
        if (input.options.summary) return next(input);
        return next({ ...input, options: { ...input.options, summary: activitySummary(input.activityType, input.args) } });
      },
      // Local activities (workflows/round-trips.ts) show in the timeline as markers, with the same summaries.
      scheduleLocalActivity(input, next) {
        if (input.options.summary) return next(input);
        return next({ ...input, options: { ...input.options, summary: activitySummary(input.activityType, input.args) } });
      },
    },
  ],
});
