/**
 * Durability: SIGKILL the worker process in the middle of a deploy (during a
 * health wait), start a fresh worker, and the same workflow finishes with
 * exactly the expected containers: none missing, none duplicated, none left
 * under a temporary name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { loadStack } from '../../src/compose';
import { progressQuery } from '../../src/messages';
import type { DeployResult } from '../../workflows/deploy';
import { killHard, nameOf, projectContainers, projectDir, removeProject, spawnWorker, startTestBed, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-crash';
const PROJECT = 'itcrash';

describe('worker crash mid-deploy', () => {
  let bed: TestBed;
  const workers: ChildProcess[] = [];

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
  });

  after(async () => {
    for (const w of workers) await killHard(w);
    await removeProject(bed.docker, PROJECT);
    await bed?.teardown();
  });

  it('finishes the deploy on a new worker with exactly the expected containers', async () => {
    const dir = projectDir('crash', {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  slow:
    image: dockflow/busybox:1
    # Healthy only after 8 s, so the deploy is sure to be inside the health wait when the worker dies.
    command: ["sh", "-c", "sleep 8; touch /tmp/ready; exec sleep 3600"]
    deploy:
      replicas: 2
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 30
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    depends_on:
      slow: {condition: service_healthy}
`,
    });
    const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} });
    workers.push(await spawnWorker(bed));
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-crash-1', args: [{ spec }] });

    // Wait until the deploy is inside the health wait, then kill the worker like a power cut.
    const deadline = Date.now() + 60_000;
    let waiting = false;
    while (!waiting && Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      waiting = progress?.steps.some((s) => s.title.startsWith('wait healthy') && s.state === 'running') ?? false;
      if (!waiting) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(waiting, 'the deploy reached the health wait');
    const beforeKill = await projectContainers(bed.docker, PROJECT);
    await killHard(workers[0]);

    workers.push(await spawnWorker(bed));
    const result = (await handle.result()) as DeployResult;
    assert.deepEqual(result.services, { app: ['itcrash-app-1'], slow: ['itcrash-slow-1', 'itcrash-slow-2'] });

    const containers = await projectContainers(bed.docker, PROJECT);
    assert.deepEqual(containers.map(nameOf), ['itcrash-app-1', 'itcrash-slow-1', 'itcrash-slow-2']);
    for (const c of containers) assert.equal(c.State, 'running', `${nameOf(c)} runs`);
    // The containers created before the crash were reused, not created again.
    for (const c of beforeKill) {
      assert.ok(containers.some((after) => after.Id === c.Id), `${nameOf(c)} survived the crash unchanged`);
    }
    const history = await handle.fetchHistory();
    // Temporal records retries as the attempt number of the final start event.
    const retried = history.events?.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ?? [];
    assert.ok(retried.length >= 1, 'the killed worker\'s activity was retried on the new worker');
  });
});
