/**
 * Scheduled backups are Temporal Schedules: the server starts the backup
 * workflow on an interval (no cron in the worker). With a 3 s interval the
 * schedule fires several times within the test, every run is a verified
 * backup, and retention (keep 2) prunes the older ones.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import type { BackupManifest } from '../../src/backup/manifest';
import { backupScheduleHandle, backupScheduleId, listBackupSchedules, putBackupSchedule } from '../../src/backup/client';
import { execIn, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-backup-schedule';
const PROJECT = 'itbksched';

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('scheduled backups as Temporal Schedules', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    stopWorker = await startWorker(bed);
    const dir = projectDir(PROJECT, {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  db:
    image: dockflow/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [data:/data]
volumes:
  data:
`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-bksched-deploy-${Date.now()}`, args: [{ spec }] });
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'seq 1 10000 > /data/rows']);
  });

  after(async () => {
    await backupScheduleHandle(bed.env.client, PROJECT).delete().catch(() => undefined);
    await stopWorker?.();
    await removeProject(bed.docker, PROJECT);
    await bed?.teardown();
  });

  it('fires on its interval, overlap SKIP, and prunes to the newest N verified backups', async () => {
    const { scheduleId, created } = await putBackupSchedule(bed.env.client, { project: PROJECT, taskQueue: TASK_QUEUE, everyMs: 3000, keepLast: 2 });
    assert.equal(scheduleId, backupScheduleId(PROJECT));
    assert.equal(created, true);
    const handle = backupScheduleHandle(bed.env.client, PROJECT);
    const description = await handle.describe();
    assert.equal(description.policies.overlap, 'SKIP');
    assert.equal(description.policies.catchupWindow, 3_600_000);
    assert.equal(description.action.workflowType, 'backup');

    // Four runs taken and finished: at least two more than retention keeps.
    const runs = await until('four scheduled backups to finish', async () => {
      const d = await handle.describe();
      if (d.info.recentActions.length < 4 || d.info.runningActions.length > 0) return undefined;
      return d.info.recentActions;
    });
    await handle.pause('test done');
    // A run may have started between the last look and the pause: let it finish.
    await until('no running backup', async () => ((await handle.describe()).info.runningActions.length === 0 ? true : undefined));

    const results = await Promise.all(runs.map((r) => bed.env.client.workflow.getHandle(r.action.workflow.workflowId).result()));
    assert.equal(results.length >= 4, true, 'the schedule fired at least four times');
    const projectDirOnHost = path.join(bed.stateDir, 'backups', PROJECT);
    const kept = fs.readdirSync(projectDirOnHost).sort();
    assert.equal(kept.length, 2, `retention keeps 2 backups, found ${kept.join(', ')}`);
    const newest = (results as { backupId: string }[]).map((r) => r.backupId).sort().slice(-2);
    assert.deepEqual(kept, newest, 'the two kept are the newest');
    for (const id of kept) {
      const manifest: BackupManifest = JSON.parse(fs.readFileSync(path.join(projectDirOnHost, id, 'manifest.json'), 'utf8'));
      assert.equal(manifest.reason, 'scheduled');
      assert.ok(manifest.verifiedAt >= manifest.completedAt);
      assert.match(manifest.workflowId, /^backup-itbksched-scheduled-/);
    }

    const listed = await until('the schedule to be listed', async () => (await listBackupSchedules(bed.env.client)).find((s) => s.scheduleId === scheduleId));
    assert.equal(listed.project, PROJECT);
    assert.equal(listed.when, 'every 3s');
    assert.equal(listed.paused, true);

    // Updating keeps one schedule per project.
    const again = await putBackupSchedule(bed.env.client, { project: PROJECT, taskQueue: TASK_QUEUE, cron: ['0 3 * * *'], keepLast: 7, paused: true });
    assert.equal(again.created, false);
    const updated = await handle.describe();
    assert.equal(updated.spec.intervals?.length ?? 0, 0);
    assert.equal(updated.spec.calendars?.length, 1);
    assert.equal((updated.action.args?.[0] as { keepLast?: number }).keepLast, 7);
  });
});
