/** down: remove a project's containers and networks (and volumes with `volumes: true`). */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DownInput } from '../src/model/input';
import { parseWorkflowInput } from './input';
import { trackOperation } from './progress';
import { acquireProjectLock } from './lock';
import { downAcrossHosts } from './host-down';
import type { DownResult } from './results';
import { LIVENESS_TIMEOUT, retry } from './apply';

const docker = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { ...retry, maximumAttempts: 10 },
});

export async function down(rawInput: unknown): Promise<DownResult> {
  const { progress, input } = trackOperation('down', () => parseWorkflowInput(DownInput, rawInput, 'down'), (i) => i.project);
  progress.project = input.project;
  await acquireProjectLock(input.project, 'down', input.waitForLock, progress);
  // Only an input that names hosts goes there: every other down runs below, as it always did.
  if (input.hosts) return downAcrossHosts({ ...input, hosts: input.hosts }, progress);
  progress.phase('executing');
  const { removed } = await progress.step(`remove project ${input.project}`, () => docker.downProject(input));
  progress.phase('done');
  return { project: input.project, removed };
}
