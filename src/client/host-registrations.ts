/**
 * The registered hosts of a namespace, read from their registration
 * workflows. Apart from hosts.ts because an activity (activities/temporal.ts)
 * lists them too: this module imports nothing from workflows/ or activities/,
 * so that activity does not close an import cycle through them.
 */
import type { WorkflowClient } from '@temporalio/client';
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
