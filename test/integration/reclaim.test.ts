/**
 * A worker that starts where another died takes back the dead one's started
 * activities at once (workers/reclaim.ts) instead of waiting out the
 * heartbeat timeout: a worker process is SIGKILLed inside a health wait, and
 * the steps it held are failed as WorkerLost within moments, long before the
 * 4 s heartbeat timeout could; the deploy then finishes on a new worker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { loadStack } from '../../src/compose';
import type { DeployResult } from '../../workflows/deploy';
import { reclaimFromDeadWorkers, workerIdentity } from '../../workers/reclaim';
import { killHard, nameOf, projectContainers, projectDir, removeProject, spawnWorker, startTestBed, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-reclaim';
const PROJECT = 'itreclaim';

describe('a new worker takes back what a dead one held', () => {
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

  it('fails the dead worker\'s started steps as WorkerLost at once, and the deploy completes on the next worker', async () => {
    const dir = projectDir('reclaim', {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  slow:
    image: dockflow/busybox:1
    command: ["sh", "-c", "sleep 6; touch /tmp/ready; exec sleep 3600"]
    deploy: {replicas: 2}
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 30}
`,
    });
    const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} });
    workers.push(await spawnWorker(bed));
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-reclaim-${Date.now()}`, args: [{ spec }] });
    // Inside the health wait: both replicas run (not yet healthy) and the worker holds the step(s) waiting on them,
    // a wait per replica, or one batched create-and-wait (the fewer-round-trips patch).
    const deadline = Date.now() + 60_000;
    let held: string[] = [];
    while (held.length === 0 && Date.now() < deadline) {
      const running = (await projectContainers(bed.docker, PROJECT)).filter((c) => c.State === 'running').length;
      const description = await bed.env.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId: handle.workflowId } });
      const started = (description.pendingActivities ?? []).filter((a) => a.lastStartedTime).map((a) => a.activityType?.name ?? '?');
      if (running === 2 && started.length > 0 && started.every((t) => t === 'waitHealthy' || t === 'convergeContainers')) held = started.sort();
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(held.length > 0, 'the health waits are running');

    // A worker of another host, or one still alive, is never touched: nothing is reclaimed while the worker lives.
    const me = workerIdentity();
    const { reclaimed: whileAlive } = await reclaimFromDeadWorkers({ connection: bed.env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUE, identity: me });
    assert.deepEqual(whileAlive, []);

    await killHard(workers[0]);
    const killedAt = Date.now();
    const { reclaimed } = await reclaimFromDeadWorkers({ connection: bed.env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUE, identity: me });
    const tookMs = Date.now() - killedAt;
    assert.deepEqual(reclaimed.map((r) => r.activityType).sort(), held, JSON.stringify(reclaimed));
    assert.ok(tookMs < 3000, `reclaimed ${tookMs} ms after the kill`);
    assert.ok(reclaimed.every((r) => r.deadWorker.startsWith('dockflow-worker/') && r.deadWorker.includes(`/${workers[0].pid}/`)), JSON.stringify(reclaimed));

    const description = await bed.env.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId: handle.workflowId } });
    const lost = (description.pendingActivities ?? []).filter((a) => a.lastFailure?.applicationFailureInfo?.type === 'WorkerLost');
    assert.equal(lost.length, held.length, 'every attempt it held was failed as WorkerLost, not timed out');

    workers.push(await spawnWorker(bed));
    const result = (await handle.result()) as DeployResult;
    assert.deepEqual(result.services, { slow: [`${PROJECT}-slow-1`, `${PROJECT}-slow-2`] });
    assert.deepEqual((await projectContainers(bed.docker, PROJECT)).map(nameOf), [`${PROJECT}-slow-1`, `${PROJECT}-slow-2`]);
  });

  it('looks at no more running workflows than its bounds allow (count and time), and at all of them within the bounds', async () => {
    // Idle workflows on a queue no worker polls: Running, with nothing to take back.
    const queue = 'it-reclaim-bound';
    const count = 25;
    const handles = await Promise.all(
      Array.from({ length: count }, (_, i) => bed.env.client.workflow.start('reclaimBoundIdle', { taskQueue: queue, workflowId: `it-reclaim-bound-${i}-${Date.now()}`, args: [] })),
    );
    try {
      const scan = (bounds: { maxWorkflows?: number; timeLimitMs?: number }) =>
        reclaimFromDeadWorkers({ connection: bed.env.nativeConnection, namespace: 'default', taskQueue: queue, identity: workerIdentity(), ...bounds });
      // Visibility catches up with the starts within moments.
      let all = await scan({});
      for (let i = 0; i < 50 && all.examined < count; i++) {
        await new Promise((r) => setTimeout(r, 200));
        all = await scan({});
      }
      assert.deepEqual({ examined: all.examined, stoppedBy: all.stoppedBy, reclaimed: all.reclaimed }, { examined: count, stoppedBy: undefined, reclaimed: [] });

      const capped = await scan({ maxWorkflows: 10 });
      assert.deepEqual({ examined: capped.examined, stoppedBy: capped.stoppedBy }, { examined: 10, stoppedBy: 'maxWorkflows' });

      const started = Date.now();
      const timed = await scan({ timeLimitMs: 1 });
      assert.equal(timed.stoppedBy, 'timeLimit');
      assert.ok(timed.examined < count, `examined ${timed.examined}`);
      assert.ok(Date.now() - started < 2000, `gave up after ${Date.now() - started} ms`);
    } finally {
      await Promise.all(handles.map((h) => h.terminate('test over').catch(() => undefined)));
    }
  });
});
