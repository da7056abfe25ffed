/**
 * The host drifting while a deploy runs: containers the deploy already
 * started are stopped from outside (what a Docker daemon restart does to
 * every container without a restart policy, or an operator's `docker stop`).
 * The deploy must still end with every container running, not report success
 * over a half-stopped project, and not fail for something the services did
 * not do. The chaos harness restarts a real dockerd; this test pins the two
 * mechanisms down on their own: the health wait starting its container
 * again, and the final observe → converge round.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadStack } from '../../src/compose';
import { progressQuery } from '../../src/messages';
import { nameOf, projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-drift';
const PROJECT = 'itdrift';

describe('host drift during a deploy', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    await removeProject(bed.docker, PROJECT);
  });

  after(async () => {
    await removeProject(bed.docker, PROJECT);
    await stopWorker?.();
    await bed?.teardown();
  });

  it('starts again what was stopped from outside and ends with every container running', async () => {
    const dir = projectDir('drift', {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  # No healthcheck and no restart policy: nothing but dockflow would start it again.
  plain:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
  # Healthy after 6 s: the deploy is inside its health wait when we stop it.
  slow:
    image: dockflow/busybox:1
    command: ["sh", "-c", "sleep 6; touch /tmp/ready; exec sleep 3600"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 30
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    depends_on:
      slow: {condition: service_healthy}
`,
    });
    const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} });
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-drift-1', args: [{ spec }] });

    const deadline = Date.now() + 60_000;
    let waiting = false;
    while (!waiting && Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      waiting = progress?.steps.some((s) => s.title === `wait healthy ${PROJECT}-slow-1` && s.state === 'running') ?? false;
      if (!waiting) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(waiting, 'the deploy reached the health wait of slow');
    // Both stopped with SIGTERM (exit 143 under init), as a daemon shutdown stops them.
    const plain = bed.docker.getContainer(`${PROJECT}-plain-1`);
    const slow = bed.docker.getContainer(`${PROJECT}-slow-1`);
    const slowStartedFirst = (await slow.inspect()).State.StartedAt;
    await Promise.all([plain.stop({ t: 5 }), slow.stop({ t: 5 })]);
    assert.equal((await plain.inspect()).State.ExitCode, 143);

    await handle.result();
    const containers = await projectContainers(bed.docker, PROJECT);
    assert.deepEqual(containers.map(nameOf), [`${PROJECT}-app-1`, `${PROJECT}-plain-1`, `${PROJECT}-slow-1`]);
    for (const c of containers) {
      const info = await bed.docker.getContainer(c.Id).inspect();
      assert.equal(info.State.Running, true, `${nameOf(c)} runs`);
    }
    const slowInfo = await slow.inspect();
    assert.equal(slowInfo.State.Health?.Status, 'healthy');
    assert.notEqual(slowInfo.State.StartedAt, slowStartedFirst, 'slow was started again by its health wait');
    const progress = await handle.query(progressQuery);
    assert.ok(
      progress.steps.some((s) => s.title.startsWith('the host drifted during the operation') && s.title.includes(`${PROJECT}-plain-1`) && s.state === 'done'),
      `the final round converged plain again: ${progress.steps.map((s) => s.title).join(' | ')}`,
    );
  });
});
