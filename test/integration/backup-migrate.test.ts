/**
 * Migrations end to end (real Temporal, real Docker):
 * - a failing migration: the backup taken first is restored, the data is its
 *   pre-migration bytes, the failure carries the output's last lines;
 * - a successful one: dry-run output shown, output streamed into progress,
 *   the service restarted, the migration and its backup linked to the
 *   project's revision in the ledger;
 * - the worker SIGKILLed while the migration runs: it ran exactly once (a
 *   counter in the volume is 1, Docker started its container once).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { progressQuery } from '../../src/messages';
import { oneOffName } from '../../src/backup/ids';
import { isOutputStep } from '../../src/backup/output';
import { Label } from '../../src/model/labels';
import type { MigrateResult } from '../../workflows/migrate';
import { createBackupActivities } from '../../activities/backup';
import { serviceSlice } from '../../src/model/slice';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-backup-migrate';
const PROJECT = 'itbkmig';
const API = `${PROJECT}-api-1`;

const COMPOSE = `
name: ${PROJECT}
services:
  api:
    image: dockflow/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [appdata:/data]
    environment: {SCHEMA_FILE: /data/version}
    healthcheck: {test: ["CMD", "test", "-f", "/data/version"], interval: 1s, timeout: 1s, retries: 10}
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
volumes:
  appdata:
`;

let seq = 0;
const wfId = (name: string) => `it-bkmig-${name}-${Date.now()}-${++seq}`;

describe('migrations against real Docker and Temporal', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  const children: ChildProcess[] = [];

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    stopWorker = await startWorker(bed);
    const dir = projectDir(PROJECT, { 'docker-compose.yml': COMPOSE });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    // Deployed by dockflow, so the project has a revision in the ledger.
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId('deploy'), args: [{ spec, wait: false }] });
    await execIn(bed.docker, API, ['sh', '-c', 'echo 1 > /data/version && seq 1 5000 > /data/rows']);
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    await removeProject(bed.docker, PROJECT);
    await bed?.teardown();
  });

  const snapshot = () => execIn(bed.docker, API, ['sh', '-c', 'cd /data && find . -type f -exec sha256sum {} + | sort']);
  const currentRevision = () => {
    const dir = path.join(bed.stateDir, 'projects', PROJECT, 'revisions');
    const last = fs.readdirSync(dir).sort().at(-1)!;
    return JSON.parse(fs.readFileSync(path.join(dir, last), 'utf8'));
  };

  it('restores the backup when the migration fails, and fails with the output\'s last lines', async () => {
    const before = await snapshot();
    const workflowId = wfId('fail');
    const run = bed.env.client.workflow.execute('migrate', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ project: PROJECT, service: 'api', command: ['sh', '-c', 'echo 2 > $SCHEMA_FILE; echo broken >> /data/rows; echo "migrating rows"; echo "constraint violated" >&2; exit 3'] }],
    });
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const message = failureMessage(err);
      assert.match(
        message,
        /^migration of service api \(project itbkmig\) exited with code 3; backup \d{8}-\d{6}-[0-9a-f]{8} was restored\. Last lines of (itbkmig-api-run-[0-9a-f]{8}) \(kept for docker logs; remove it with docker rm -f \1 or dockflow down -p itbkmig\):\n/,
      );
      // Docker reads stdout and stderr separately: their relative order in the log is not guaranteed.
      const tail = message.split('or dockflow down -p itbkmig):\n')[1]?.split('\n').sort();
      assert.deepEqual(tail, ['constraint violated', 'migrating rows']);
      return true;
    });
    assert.equal(await snapshot(), before, 'the data is its pre-migration bytes');
    const api = await bed.docker.getContainer(API).inspect();
    assert.equal(api.State.Running, true, 'api runs again after the restore');
    const oneOff = await bed.docker.getContainer(oneOffName(PROJECT, 'api', 'run', workflowId)).inspect();
    assert.equal(oneOff.Config.Labels[Label.oneoff], 'True');
    assert.equal(oneOff.Config.Labels[Label.service], 'api');
    assert.equal(oneOff.Config.Labels[Label.operation], workflowId);
    assert.equal(oneOff.State.ExitCode, 3);
  });

  it('runs a successful migration once: dry run shown, output streamed, service restarted, recorded with its backup', async () => {
    const workflowId = wfId('ok');
    const startedAt = (await bed.docker.getContainer(API).inspect()).State.StartedAt;
    const handle = await bed.env.client.workflow.start('migrate', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [
        {
          project: PROJECT,
          service: 'api',
          dryRunCommand: ['sh', '-c', 'echo "would move version $(cat $SCHEMA_FILE) to 2"'],
          command: ['sh', '-c', 'echo 2 > $SCHEMA_FILE; for i in 1 2 3; do echo "step $i"; done'],
          restart: true,
        },
      ],
    });
    const result = (await handle.result()) as MigrateResult;
    assert.equal(result.dryRunOutput, 'would move version 1 to 2');
    assert.equal(result.output, 'step 1\nstep 2\nstep 3');
    assert.deepEqual(result.restarted, [API]);
    assert.equal((await execIn(bed.docker, API, ['cat', '/data/version'])).trim(), '2');
    assert.notEqual((await bed.docker.getContainer(API).inspect()).State.StartedAt, startedAt, 'api was restarted');

    const progress = await handle.query(progressQuery);
    const lines = progress.steps.filter((s) => isOutputStep(s.title)).map((s) => s.title.replace(/^\S+ \| /, ''));
    assert.deepEqual(lines, ['would move version 1 to 2', 'step 1', 'step 2', 'step 3'], 'output reached progress line by line');

    const revision = currentRevision();
    assert.equal(result.revision, revision.number);
    assert.ok(revision.links.migrations.includes(workflowId), 'the migration is recorded in the revision');
    assert.ok(result.backupId && revision.links.backups.includes(result.backupId), 'with its backup');
    const manifest = JSON.parse(fs.readFileSync(path.join(bed.stateDir, 'backups', PROJECT, result.backupId!, 'manifest.json'), 'utf8'));
    assert.equal(manifest.reason, 'migrate');
    assert.deepEqual(manifest.migration, { service: 'api', command: ['sh', '-c', 'echo 2 > $SCHEMA_FILE; for i in 1 2 3; do echo "step $i"; done'] });
    assert.deepEqual(manifest.archives.map((a: { key: string }) => a.key), ['appdata'], 'the service\'s own data, nothing else');
    const leftovers = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.operation}=${workflowId}`] } });
    assert.deepEqual(leftovers.map((c) => c.Names[0]), [], 'the one-off containers of a successful migration are removed');
  });

  it('never starts a one-off container twice, whatever attempt asks (activity alone)', async () => {
    const activities = createBackupActivities({ docker: bed.docker, stateDir: bed.stateDir });
    const revision = currentRevision();
    const name = oneOffName(PROJECT, 'api', 'run', 'it-bkmig-direct');
    const input = {
      spec: serviceSlice(revision.spec, 'api'),
      service: 'api',
      imageId: revision.images.api.id,
      name,
      command: ['sh', '-c', 'echo ran >> /data/direct-runs'],
      operation: 'it-bkmig-direct',
      kind: 'run' as const,
    };
    await execIn(bed.docker, API, ['rm', '-f', '/data/direct-runs']);
    try {
      assert.equal((await activities.startOneOff(input)).startedNow, true);
      const first = await activities.waitOneOff({ service: 'api', name, maxWaitMs: 20_000 });
      assert.deepEqual([first.exited, first.exitCode], [true, 0]);
      // A retried attempt (the worker died after Docker started the container) only re-attaches.
      assert.equal((await activities.startOneOff(input)).startedNow, false);
      assert.equal((await activities.waitOneOff({ service: 'api', name, maxWaitMs: 1000 })).exited, true);
      assert.equal((await execIn(bed.docker, API, ['cat', '/data/direct-runs'])).trim(), 'ran');
    } finally {
      await bed.docker.getContainer(name).remove({ force: true }).catch(() => undefined);
    }
  });

  it('runs the migration exactly once when the worker is SIGKILLed while it runs', async () => {
    await stopWorker?.();
    stopWorker = undefined;
    children.push(await spawnWorker(bed));
    await execIn(bed.docker, API, ['sh', '-c', 'rm -f /data/count']);
    const workflowId = wfId('crash');
    const name = oneOffName(PROJECT, 'api', 'run', workflowId);
    const since = Math.floor(Date.now() / 1000) - 1;
    const handle = await bed.env.client.workflow.start('migrate', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ project: PROJECT, service: 'api', command: ['sh', '-c', 'n=$(cat /data/count 2>/dev/null || echo 0); echo $((n+1)) > /data/count; echo started; sleep 8; echo finished'] }],
    });
    const deadline = Date.now() + 60_000;
    let runningNow = false;
    while (!runningNow && Date.now() < deadline) {
      runningNow = (await bed.docker.getContainer(name).inspect().catch(() => undefined))?.State.Running ?? false;
      if (!runningNow) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(runningNow, 'the migration container is running');
    await new Promise((r) => setTimeout(r, 1000));
    await killHard(children.at(-1)!);

    children.push(await spawnWorker(bed));
    const result = (await handle.result()) as MigrateResult;
    assert.match(result.output, /started\nfinished/);
    assert.equal((await execIn(bed.docker, API, ['cat', '/data/count'])).trim(), '1', 'the migration ran exactly once');

    const stream = (await bed.docker.getEvents({ since, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['container'], container: [name] } })) as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of stream) text += chunk.toString();
    const starts = text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => (e.Action ?? e.status) === 'start');
    assert.equal(starts.length, 1, 'Docker started the one-off container once');
    // From the history: the container was started by one activity, scheduled once, on the killed worker; the new
    // worker only waited for it. (A started event is written with an activity's final attempt.)
    const events = (await handle.fetchHistory()).events ?? [];
    const typeOf = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name]));
    const started = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => ({ type: typeOf.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)), worker: e.activityTaskStartedEventAttributes!.identity }));
    assert.equal([...typeOf.values()].filter((t) => t === 'startOneOff').length, 1, 'startOneOff was scheduled once');
    const starter = started.find((s) => s.type === 'startOneOff')!.worker;
    assert.ok(started.some((s) => s.type === 'waitOneOff' && s.worker !== starter), 'the new worker re-attached to the running container');
  });
});
