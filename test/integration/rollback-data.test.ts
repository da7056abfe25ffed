/**
 * rollback --with-data end to end (real Temporal, real Docker, the CLI as a
 * user runs it):
 * - deploy v1, write data, migrate (pre-migration backup) with v2's image
 *   changing the data, deploy v2: `history --json` names revision 1's
 *   pre-migration backup; `rollback --to 1 --with-data` puts v1's image and
 *   v1's data back, every file byte for byte, after backing up v2's data
 *   (linked to revision 2, so rolling forward with data brings it back);
 * - a revision without a data backup: a clear error, nothing touched;
 * - revision N's containers fail their health gate on the restored data: the
 *   data and the containers end as they were, no revision recorded;
 * - the worker SIGKILLed while the rollback archives or restores data: a new
 *   worker finishes it, rolled back with data.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import type { MigrateResult } from '../../workflows/migrate';
import type { BackupResult } from '../../workflows/backup';
import type { RollbackResult } from '../../workflows/rollback';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { HELPER_LABEL } from '../../activities/backup';
import type { ChildProcess } from 'node:child_process';
import { progressQuery } from '../../src/messages';
import { buildImage, execIn, killHard, projectDir, removeProject, revisionTags, runCli, spawnWorker, startTestBed, startWorker, TEST_IMAGE, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-rbdata';
const PROJECT = 'itrbdata';
const APP = `${PROJECT}-app-1`;
const IMAGE_1 = 'dockflow-test/rbdata-app:1';
const IMAGE_2 = 'dockflow-test/rbdata-app:2';

// v2 is healthy only without /data/poison: the failure test restores data that has one.
const compose = (image: string, healthcheck: boolean) => `
name: ${PROJECT}
services:
  app:
    image: ${image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [appdata:/data]
${healthcheck ? '    healthcheck: {test: ["CMD", "sh", "-c", "test ! -e /data/poison"], interval: 1s, timeout: 10s, retries: 3}\n' : ''}volumes:
  appdata:
`;

let seq = 0;
const wfId = (name: string) => `it-rbdata-${name}-${Date.now()}-${++seq}`;

describe('rollback with data against real Docker and Temporal', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  let env: Record<string, string>;
  let v1: StackSpec;
  let v2: StackSpec;
  let image1 = '';
  let image2 = '';
  let migrationBackup = '';
  let v1Data = '';
  const children: ChildProcess[] = [];

  const specOf = (image: string, healthcheck: boolean) => {
    const dir = projectDir(PROJECT, { 'docker-compose.yml': compose(image, healthcheck) });
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };
  /** A workflow run to its end; a failure carries the workflow's own message. */
  const run = async <T>(type: string, input: unknown): Promise<T> => {
    try {
      return (await bed.env.client.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId: wfId(type), args: [input] })) as T;
    } catch (err) {
      throw new Error(`${type} failed: ${failureMessage(err)}`);
    }
  };
  const deploy = (spec: StackSpec) => run('deploy', { spec });
  /** Every path with its type and mode, and every file's sha256: equal snapshots are equal trees, byte for byte. */
  const snapshot = () =>
    execIn(bed.docker, APP, ['sh', '-c', 'cd /data && find . -exec stat -c "%n %F %a" {} + | sort && find . -type f -exec sha256sum {} + | sort']);
  const appImage = async () => (await bed.docker.getContainer(APP).inspect()).Image;
  const revisionFiles = () => fs.readdirSync(path.join(bed.stateDir, 'projects', PROJECT, 'revisions')).sort();
  const backupIds = () => fs.readdirSync(path.join(bed.stateDir, 'backups', PROJECT)).sort();
  const manifestOf = (id: string) => JSON.parse(fs.readFileSync(path.join(bed.stateDir, 'backups', PROJECT, id, 'manifest.json'), 'utf8'));

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    image1 = await buildImage(bed.docker, IMAGE_1, `FROM ${TEST_IMAGE}\nLABEL release=rbdata-1\n`);
    image2 = await buildImage(bed.docker, IMAGE_2, `FROM ${TEST_IMAGE}\nLABEL release=rbdata-2\n`);
    stopWorker = await startWorker(bed);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    v1 = specOf(IMAGE_1, false);
    v2 = specOf(IMAGE_2, true);
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    await removeProject(bed.docker, PROJECT);
    for (const tag of [IMAGE_1, IMAGE_2, ...(bed ? await revisionTags(bed, PROJECT) : [])]) await bed.docker.getImage(tag).remove({ noprune: true }).catch(() => undefined);
    if (bed) fs.rmSync(path.join(bed.stateDir, 'backups'), { recursive: true, force: true });
    await bed?.teardown();
  });

  it('puts revision 1\'s image and its pre-migration data back, byte for byte, after a migration and a deploy of v2', async () => {
    await deploy(v1);
    await execIn(bed.docker, APP, ['sh', '-c', 'mkdir -p /data/sub && seq 1 3000 > /data/rows && echo v1 > /data/schema && printf "bin\\000ary" > /data/sub/blob && chmod 600 /data/sub/blob && ln -s rows /data/link']);
    v1Data = await snapshot();

    // The migration runs with v2's image while revision 1 is current: its backup holds revision 1's data.
    const migrated = await run<MigrateResult>('migrate', {
      project: PROJECT,
      service: 'app',
      spec: v2,
      command: ['sh', '-c', 'echo v2 > /data/schema && seq 3001 4000 >> /data/rows && rm /data/sub/blob'],
    });
    assert.equal(migrated.revision, 1);
    migrationBackup = migrated.backupId!;
    await deploy(v2);
    await execIn(bed.docker, APP, ['sh', '-c', 'echo written-under-v2 > /data/after']);
    const v2Data = await snapshot();
    assert.notEqual(v2Data, v1Data);
    assert.equal(await appImage(), image2);

    const history = await runCli(['history', '-p', PROJECT, '--json'], env);
    assert.equal(history.code, 0, history.stderr);
    const revisions = JSON.parse(history.stdout).revisions as { number: number; dataBackup: { id: string; reason: string } | null }[];
    assert.deepEqual(
      revisions.map((r) => [r.number, r.dataBackup?.id ?? null, r.dataBackup?.reason ?? null]),
      [
        [1, migrationBackup, 'migrate'],
        [2, null, null],
      ],
    );
    const text = await runCli(['history', '-p', PROJECT], env);
    assert.match(text.stdout, new RegExp(`^  1 .*\\n(.*\\n)*       data: backup ${migrationBackup} \\(migrate\\)\\n  2 `, 'm'));

    const rollback = await runCli(['rollback', '-p', PROJECT, '--to', '1', '--with-data', '--json'], env);
    assert.equal(rollback.code, 0, rollback.stderr);
    const result = JSON.parse(rollback.stdout);
    assert.equal(result.restored, 1);
    assert.equal(result.revision, 3);
    assert.equal(result.dataBackup, migrationBackup);
    assert.deepEqual(result.dataSets, ['appdata']);

    assert.equal(await appImage(), image1, 'v1\'s image runs again');
    assert.equal(await snapshot(), v1Data, 'v1\'s data, every file byte for byte');
    const recorded = JSON.parse(fs.readFileSync(path.join(bed.stateDir, 'projects', PROJECT, 'revisions', revisionFiles().at(-1)!), 'utf8'));
    assert.equal(recorded.number, 3);
    assert.equal(recorded.restoredFrom, 1);

    // The data it replaced was backed up first, as revision 2's data: rolling forward with data brings it back.
    const safety = manifestOf(result.safetyBackup);
    assert.equal(safety.reason, 'rollback');
    assert.equal(safety.revision, 2);
    const forward = await run<RollbackResult>('rollback', { project: PROJECT, to: 2, withData: true });
    assert.equal(forward.dataBackup, result.safetyBackup);
    assert.equal(await appImage(), image2);
    assert.equal(await snapshot(), v2Data, 'v2\'s data, with what was written under v2');
  });

  it('fails before touching anything when the revision has no data backup', async () => {
    const revisionsBefore = revisionFiles();
    const backupsBefore = backupIds();
    const dataBefore = await snapshot();
    const container = (await bed.docker.getContainer(APP).inspect()).Id;
    // Revision 4 (the roll forward) has no backup of its own data yet.
    const refused = await runCli(['rollback', '-p', PROJECT, '--to', '4', '--with-data'], env);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /project itrbdata has no backup of revision 4's data in local directory .*; nothing was changed\. Revisions with one: 1, 2, 3 \(dockflow history -p itrbdata\)\. Roll back the images only with dockflow rollback -p itrbdata --to 4/,
    );
    // --dest without --with-data is bad usage, refused before anything is contacted.
    const usage = await runCli(['rollback', '-p', PROJECT, '--to', '1', '--dest', '/srv/backups'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--dest is only used with --with-data/);
    assert.deepEqual(revisionFiles(), revisionsBefore, 'no revision recorded');
    assert.deepEqual(backupIds(), backupsBefore, 'no backup taken');
    assert.equal(await snapshot(), dataBefore);
    const after = await bed.docker.getContainer(APP).inspect();
    assert.equal(after.Id, container, 'the container was not touched');
    assert.equal(after.State.Running, true);
  });

  it('puts the data and the containers back as they were when the revision fails on the restored data', async () => {
    // Revision 4 (v2, healthy only without /data/poison) gets a backup with the poison, then v1 is deployed.
    await execIn(bed.docker, APP, ['sh', '-c', 'touch /data/poison']);
    const poisoned = await run<BackupResult>('backup', { project: PROJECT });
    assert.equal(poisoned.revision, 4);
    await deploy(v1);
    await execIn(bed.docker, APP, ['sh', '-c', 'rm /data/poison && echo under-revision-5 > /data/r5']);
    const dataBefore = await snapshot();
    const revisionsBefore = revisionFiles();

    const workflowId = wfId('rollback-fails');
    const failing = bed.env.client.workflow.execute('rollback', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ project: PROJECT, to: 4, withData: true, healthTimeoutSeconds: 60 }],
    });
    await assert.rejects(failing, (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(
        failureMessage(err),
        /^rollback of itrbdata to revision 4 with data failed: .*; the data \(from backup \d{8}-\d{6}-[0-9a-f]{8}\) and revision 5's containers were put back$/s,
      );
      return true;
    });
    assert.equal(await appImage(), image1, 'revision 5\'s image runs');
    assert.equal((await bed.docker.getContainer(APP).inspect()).State.Running, true);
    assert.equal(await snapshot(), dataBefore, 'revision 5\'s data, byte for byte');
    assert.deepEqual(revisionFiles(), revisionsBefore, 'no revision recorded');
    const helpers = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.project}=${PROJECT}`, HELPER_LABEL] } });
    assert.deepEqual(helpers.map((c) => c.Names[0]), [], 'no helper container left');
  });

  it('finishes the rollback with data when the worker is killed while it archives or restores data', async () => {
    // Enough data that archiving the current contents takes a moment to catch.
    await execIn(bed.docker, APP, ['sh', '-c', 'head -c 32000000 /dev/urandom > /data/bulk']);
    const revisionsBefore = revisionFiles();
    await stopWorker?.();
    stopWorker = undefined;
    children.push(await spawnWorker(bed));
    const handle = await bed.env.client.workflow.start('rollback', { taskQueue: TASK_QUEUE, workflowId: wfId('rollback-kill'), args: [{ project: PROJECT, to: 1, withData: true }] });
    const deadline = Date.now() + 120_000;
    let point: string | undefined;
    while (!point && Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      point = progress?.steps.find((s) => s.state === 'running' && /^(archive|restore) volume appdata/.test(s.title))?.title;
      if (!point) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(point, 'the rollback reached a data step');
    await killHard(children.at(-1)!);
    children.push(await spawnWorker(bed));

    const result = (await handle.result()) as RollbackResult;
    assert.equal(result.dataBackup, migrationBackup);
    assert.equal(await appImage(), image1);
    assert.equal(await snapshot(), v1Data, `v1's data, byte for byte (killed during: ${point})`);
    assert.equal(revisionFiles().length, revisionsBefore.length + 1, 'one revision recorded');
    const history = await handle.fetchHistory();
    const retried = history.events?.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ?? [];
    assert.ok(retried.length >= 1, 'the killed worker\'s step was retried on the new worker');
  });
});
