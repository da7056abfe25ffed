/**
 * The registered hosts of a namespace, read from their registration
 * workflows, and when each host's worker last polled its queue. Apart from hosts.ts because an activity (activities/temporal.ts)
 * lists them too: this module imports nothing from workflows/ or activities/,
 * so that activity does not close an import cycle through them.
 */
import type { WorkflowClient } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { HostRegistration } from '../model/hosts';
import { hostRegistrationQuery } from '../messages';

/** Every registered host of the namespace, sorted by name (none: a single-host setup). */
export async function registeredHosts(client: WorkflowClient): Promise<HostRegistration[]> {
  const found: HostRegistration[] = [];
  for await (const execution of client.list({ query: `WorkflowType = 'hostRegistration' AND ExecutionStatus = 'Running'` })) {
    const registration = HostRegistration.safeParse(await client.getHandle(execution.workflowId, execution.runId).query(hostRegistrationQuery));
    if (registration.success) found.push(registration.data);
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** When a worker last polled the task queue for activities, as Temporal saw it. */
export async function lastPoll(client: WorkflowClient, taskQueue: string): Promise<string | undefined> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  const times = (response.pollers ?? []).flatMap((p) => (p.lastAccessTime?.seconds != null ? [Number(p.lastAccessTime.seconds.toString()) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6)] : []));
  return times.length ? new Date(Math.max(...times)).toISOString() : undefined;
}
