/**
 * One mutating operation per project, and cancellation that undoes what a
 * deploy did: real Docker, real Temporal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { WorkflowFailedError, defaultPayloadConverter } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { progressQuery } from '../../src/messages';
import type { DeployResult } from '../../workflows/deploy';
import { nameOf, projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-lock';

const compose = (project: string, release: string, readyAfter: number) => `
name: ${project}
services:
  app:
    image: dockflow/busybox:1
    command: ["sh", "-c", "sleep ${readyAfter}; touch /tmp/ready; exec sleep 3600"]
    init: true
    environment: {RELEASE: "${release}"}
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 60
`;

describe('project lock and cancel', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    for (const p of ['itlock', 'itcancel']) await removeProject(bed.docker, p);
  });

  after(async () => {
    for (const p of ['itlock', 'itcancel']) await removeProject(bed.docker, p);
    await stopWorker?.();
    await bed?.teardown();
  });

  const specOf = (project: string, release: string, readyAfter: number) => {
    const dir = projectDir(project, { 'docker-compose.yml': compose(project, release, readyAfter) });
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };

  const waitForStep = async (workflowId: string, prefixes: string | string[]) => {
    const handle = bed.env.client.workflow.getHandle(workflowId);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      if (progress?.steps.some((s) => [prefixes].flat().some((p) => s.title.startsWith(p)) && s.state === 'running')) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${workflowId} never reached "${[prefixes].flat().join('" or "')}"`);
  };

  it('refuses a second operation on a busy project, naming the running one, and queues one that asks to wait', async () => {
    const first = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-lock-first', args: [{ spec: specOf('itlock', '1', 5) }] });
    // The first deploy is mid-way (holding the lock) while its container waits out its 5 s start:
    // a step of its own, or the create step that also waits (one batched activity).
    await waitForStep('it-lock-first', ['wait healthy', 'create itlock-']);

    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-lock-second', args: [{ spec: specOf('itlock', '2', 0) }] }),
      (err: unknown) => {
        assert.match(failureMessage(err), /project itlock is busy: deploy it-lock-first has been running since \d{4}-\d\d-\d\dT/);
        return true;
      },
    );
    const waiting = bed.env.client.workflow.execute('deploy', {
      taskQueue: TASK_QUEUE,
      workflowId: 'it-lock-third',
      args: [{ spec: specOf('itlock', '3', 0), waitForLock: true }],
    }) as Promise<DeployResult>;

    await first.result();
    const third = await waiting;
    assert.equal(third.plan, 'recreate container:itlock-app-1 (config hash changed)');
    const firstClosed = (await first.describe()).closeTime!.getTime();
    // Its images step, a scheduled activity or a local one (a marker): both carry the step's summary.
    const thirdStarted = (await bed.env.client.workflow.getHandle('it-lock-third').fetchHistory()).events!.find(
      (e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'ensureImages' ||
        (e.markerRecordedEventAttributes && e.userMetadata?.summary && defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary).startsWith('pull or build')),
    );
    assert.ok(thirdStarted, 'the waiting deploy ensured its images');
    assert.ok(Number(thirdStarted?.eventTime?.seconds) * 1000 >= firstClosed - 1000, 'the waiting deploy did its work after the first one finished');
    const app = await bed.docker.getContainer('itlock-app-1').inspect();
    assert.ok(app.Config.Env.includes('RELEASE=3'), 'the refused deploy changed nothing; the queued one applied');
  });

  it('undoes a cancelled deploy: the project is back at its previous revision', async () => {
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-cancel-1', args: [{ spec: specOf('itcancel', '1', 0) }] });
    const before = await bed.docker.getContainer('itcancel-app-1').inspect();

    // Release 2 takes 60 s to become healthy: cancel it while it waits.
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-cancel-2', args: [{ spec: specOf('itcancel', '2', 60) }] });
    await waitForStep('it-cancel-2', 'stop-first replace');
    await handle.cancel();
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      return true;
    });
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    // What was undone is the last thing the operation reports.
    assert.equal((await handle.query(progressQuery)).phase, 'deploy of itcancel was cancelled; restored revision 1');

    const containers = await projectContainers(bed.docker, 'itcancel');
    assert.deepEqual(containers.map(nameOf), ['itcancel-app-1']);
    const app = await bed.docker.getContainer('itcancel-app-1').inspect();
    assert.ok(app.Config.Env.includes('RELEASE=1'), 'release 1 runs again');
    assert.equal(app.Image, before.Image);
    assert.equal(app.State.Health?.Status, 'healthy');

    // The lock went with the cancelled workflow.
    const next = (await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-cancel-3', args: [{ spec: specOf('itcancel', '1', 0) }] })) as DeployResult;
    assert.equal(next.operations, 0);
  });
});
