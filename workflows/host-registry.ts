/**
 * Hosts register themselves in Temporal, so every client and workflow sees
 * the same list without a file on any machine: a host's worker starts
 * `hostRegistration` (ID `dockflow-host-<name>`, replacing an earlier one)
 * with its name, labels and task queue, and the workflow holds them for as
 * long as it runs. It adds no events while it waits, so its history stays a
 * handful of events.
 *
 * `describeHosts` asks each host's worker, on its own task queue, for its
 * engine's version and projects, each within a bound: a silent host is
 * reported, not waited for.
 */
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities';
import { HostName, HostRegistration } from '../src/model/hosts';
import type { HostDescription } from '../activities/hosts';
import { hostRegistrationQuery } from '../src/messages';
import { parseWorkflowInput } from './input';
import { rootMessage } from './progress';

export async function hostRegistration(raw: unknown): Promise<void> {
  const registration = parseWorkflowInput(HostRegistration, raw, 'hostRegistration');
  setHandler(hostRegistrationQuery, () => registration);
  await condition(() => false);
}

/** How long `dockflow hosts` waits for one host's worker to answer. */
export const DESCRIBE_HOST_TIMEOUT = '10s';

const DescribeHostsInput = z.strictObject({ hosts: z.array(z.strictObject({ name: HostName, taskQueue: z.string().min(1) })) });

export async function describeHosts(raw: unknown): Promise<Record<string, HostDescription | { error: string }>> {
  const { hosts } = parseWorkflowInput(DescribeHostsInput, raw, 'describeHosts');
  const answers = await Promise.all(
    hosts.map(async ({ name, taskQueue }) => {
      const { describeHost } = proxyActivities<Activities>({ taskQueue, scheduleToCloseTimeout: DESCRIBE_HOST_TIMEOUT, retry: { maximumAttempts: 1 } });
      try {
        return [name, await describeHost()] as const;
      } catch (err) {
        return [name, { error: rootMessage(err) }] as const;
      }
    }),
  );
  return Object.fromEntries(answers);
}
