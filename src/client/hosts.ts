/**
 * Hosts seen from a Temporal client: registering one (what `dockflow worker
 * --host` does at start), listing them, and asking each for its state.
 */
import type { WorkflowClient } from '@temporalio/client';
import { HostRegistration, hostRegistrationId, hostTaskQueue, type HostInfo, type HostStatus } from '../model/hosts';
import { lastPoll, registeredHosts } from './host-registrations';
import type { HostDescription } from '../../activities/hosts';
import type { StackHosts } from '../../workflows/host-status';
import { operationId } from './operations';

export { lastPoll, registeredHosts };

/** Register (or re-register, with new labels) a host: its registration workflow replaces any earlier one. */
export async function registerHost(client: WorkflowClient, sharedQueue: string, host: HostInfo): Promise<HostRegistration> {
  const registration = HostRegistration.parse({ ...host, taskQueue: hostTaskQueue(sharedQueue, host.name) });
  await client.start('hostRegistration', {
    taskQueue: sharedQueue,
    workflowId: hostRegistrationId(host.name),
    args: [registration],
    workflowIdConflictPolicy: 'TERMINATE_EXISTING',
  });
  return registration;
}

/** Every registered host with its last poll and its worker's answer (Docker version, projects). */
export async function hostStatuses(client: WorkflowClient, sharedQueue: string): Promise<HostStatus[]> {
  const hosts = await registeredHosts(client);
  if (hosts.length === 0) return [];
  const polls = await Promise.all(hosts.map((h) => lastPoll(client, h.taskQueue)));
  const answers = await client.execute('describeHosts', {
    taskQueue: sharedQueue,
    workflowId: operationId('hosts', 'all'),
    args: [{ hosts: hosts.map((h) => ({ name: h.name, taskQueue: h.taskQueue })) }],
  }) as Record<string, HostDescription | { error: string }>;
  return hosts.map((h, i) => ({ ...h, ...(polls[i] ? { lastPoll: polls[i] } : {}), ...answers[h.name] }));
}

/**
 * A project across the registered hosts, for `dockflow ps`: each host's
 * ledger revision and how it differs from the stack's current revision
 * (drift). Undefined when no host is registered (single-host mode).
 */
export async function stackHostsStatus(client: WorkflowClient, sharedQueue: string, project: string): Promise<StackHosts | undefined> {
  const hosts = await registeredHosts(client);
  if (hosts.length === 0) return undefined;
  return (await client.execute('stackHosts', {
    taskQueue: sharedQueue,
    workflowId: operationId('hosts', project),
    args: [{ project, hosts: hosts.map(({ name, labels }) => ({ name, labels })) }],
    workflowExecutionTimeout: '60s',
  })) as StackHosts;
}

