/**
 * Cancelling a backup while it archives: the services it stopped run again,
 * no partial archive or incomplete backup directory is left, the project's
 * lock is free, and the result says what was undone. Real Docker, real
 * Temporal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { progressQuery } from '../../src/messages';
import { execIn, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-backup-cancel';
const PROJECT = 'itbkcancel';

describe('cancel a backup', () => {
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

  it('starts the stopped service again and leaves no partial archive', async () => {
    const dir = projectDir(PROJECT, {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  db:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
volumes:
  data: {}
`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-bkc-deploy', args: [{ spec }] });
    // Random bytes do not compress: archiving them takes long enough to cancel in the middle.
    await execIn(bed.docker, `${PROJECT}-db-1`, ['dd', 'if=/dev/urandom', 'of=/data/blob', 'bs=1048576', 'count=400']);

    const handle = await bed.env.client.workflow.start('backup', { taskQueue: TASK_QUEUE, workflowId: 'it-bkc-backup', args: [{ project: PROJECT }] });
    const deadline = Date.now() + 60_000;
    let archiving = false;
    while (!archiving && Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      archiving = progress?.steps.some((s) => s.title.startsWith('archive volume') && s.state === 'running') ?? false;
      if (!archiving) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(archiving, 'the backup reached the archive step');
    assert.equal((await bed.docker.getContainer(`${PROJECT}-db-1`).inspect()).State.Running, false, 'db is stopped while its volume is archived');
    await handle.cancel();

    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, `cancelled, got ${String(err)}`);
      return true;
    });
    const progress = await handle.query(progressQuery);
    assert.match(progress.phase, /backup of itbkcancel was cancelled; itbkcancel-db-1 started again, incomplete backup removed/);
    assert.equal((await bed.docker.getContainer(`${PROJECT}-db-1`).inspect()).State.Running, true, 'db runs again');
    const projectBackups = path.join(bed.stateDir, 'backups', PROJECT);
    const left = fs.existsSync(projectBackups) ? fs.readdirSync(projectBackups, { recursive: true }).map(String) : [];
    assert.deepEqual(left, [], 'no backup directory or partial archive is left');
    const helpers = await bed.docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`, 'io.dockflow.helper'] } });
    assert.deepEqual(helpers, [], 'no helper container is left');
    const lock = await bed.env.client.workflow.getHandle(`dockflow-lock-${PROJECT}`).describe();
    assert.notEqual(lock.status.name, 'RUNNING', 'the project lock is free');
  });
});
