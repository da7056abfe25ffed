/**
 * Backups and restores end to end: real Temporal dev server, real Docker,
 * the worker running the real activities.
 *
 * - round trip: known bytes in a named volume and a bind-mounted directory,
 *   back up, destroy (and litter), restore, every file's sha256 compared;
 *   then the volume removed altogether and restored again;
 * - a corrupted archive is refused before anything is touched;
 * - a SQLite-style bind directory backed up while its services are stopped
 *   (Docker's own event log proves the order), hooks around it, the services
 *   running again afterwards;
 * - a worker SIGKILLed while archiving: the stopped service runs again, no
 *   partial file remains, the backup completes and verifies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { Label } from '../../src/model/labels';
import type { BackupManifest } from '../../src/backup/manifest';
import type { BackupListing, BackupResult } from '../../workflows/backup';
import type { RestoreResult } from '../../workflows/restore';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, startWorker, type TestBed } from '../support/harness';
import { hostTree } from '../support/host-tree';

const TASK_QUEUE = 'it-backup';
const ROUND = 'itbkround';
const SQLITE = 'itbksqlite';
const CRASH = 'itbkcrash';

/** A service that exits promptly on SIGTERM (busybox sh as PID 1 would otherwise wait out the 10 s stop timeout). */
const IDLE = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;

let seq = 0;
const wfId = (name: string) => `it-bk-${name}-${Date.now()}-${++seq}`;

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every file's sha256, symlink target, and owner/mode, as seen inside a container. */
async function containerTree(bed: TestBed, container: string, dir: string): Promise<string> {
  const script = `cd ${dir} && find . -type f -exec sha256sum {} + | sort && find . -type l -exec readlink {} + | sort && find . -exec stat -c '%n %u:%g %a %F' {} + | sort`;
  return execIn(bed.docker, container, ['sh', '-c', script]);
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

async function dockerEvents(bed: TestBed, since: number, until: number): Promise<{ status?: string; Action?: string; Actor?: { Attributes?: Record<string, string> }; time: number; timeNano: number }[]> {
  const stream = (await bed.docker.getEvents({ since, until, filters: { type: ['container'] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('backup and restore against real Docker and Temporal', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  const children: ChildProcess[] = [];

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    for (const p of [ROUND, SQLITE, CRASH]) await removeProject(bed.docker, p);
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    for (const p of [ROUND, SQLITE, CRASH]) await removeProject(bed.docker, p);
    await bed?.teardown();
  });

  const backupDir = () => path.join(bed.stateDir, 'backups');

  async function deploy(dir: string): Promise<void> {
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId('deploy'), args: [{ spec }] });
  }

  async function running(name: string): Promise<boolean> {
    return (await bed.docker.getContainer(name).inspect()).State.Running;
  }

  function readManifest(project: string, id: string): BackupManifest {
    return JSON.parse(fs.readFileSync(path.join(backupDir(), project, id, 'manifest.json'), 'utf8'));
  }

  it('round trip: a named volume and a bind-mounted directory come back byte for byte, old contents cleared', async () => {
    const dir = projectDir(ROUND, {
      'docker-compose.yml': `
name: ${ROUND}
services:
  db:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: [db-data:/data]
  app:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: ["./files:/files"]
    depends_on: [db]
    healthcheck: {test: ["CMD", "test", "-d", "/files"], interval: 1s, timeout: 1s, retries: 5}
volumes:
  db-data:
`,
      'files/x.txt': 'bind mounted\n',
      'files/nested/deeper/y.txt': 'y'.repeat(100_000),
      'files/.hidden': 'dot file\n',
    });
    fs.writeFileSync(path.join(dir, 'files', 'nested', 'random.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
    await deploy(dir);
    const db = `${ROUND}-db-1`;
    await execIn(bed.docker, db, [
      'sh',
      '-c',
      'mkdir -p /data/sub /data/empty && echo alpha > /data/a.txt && dd if=/dev/urandom of=/data/sub/b.bin bs=1k count=1024 2>/dev/null && echo s > /data/.secret && chmod 600 /data/.secret && chown 1000:1000 /data/.secret && ln -s a.txt /data/link',
    ]);
    const volumeBefore = await containerTree(bed, db, '/data');
    const bindBefore = hostTree(path.join(dir, 'files'));
    assert.match(volumeBefore, /\.\/sub\/b\.bin/);

    const result = (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('round'), args: [{ project: ROUND }] })) as BackupResult;
    assert.deepEqual(result.archives.map((a) => [a.kind, a.key]), [['volume', 'db-data'], ['bind', './files']]);
    assert.match(result.destination, new RegExp(`local directory ${backupDir()}`));
    const manifest = readManifest(ROUND, result.backupId);
    assert.equal(manifest.project, ROUND);
    assert.equal(manifest.revision, 1, 'the ledger revision the project was at');
    for (const a of manifest.archives) {
      const file = path.join(backupDir(), ROUND, result.backupId, a.archive);
      assert.equal(sha256File(file), a.sha256, `${a.archive}: the manifest's checksum is the file's`);
      assert.equal(fs.statSync(file).size, a.archiveBytes);
    }
    const listing = execFileSync('tar', ['-tzf', path.join(backupDir(), ROUND, result.backupId, manifest.archives[0].archive)]).toString();
    assert.match(listing, /^dockflow-volume\/sub\/b\.bin$/m);
    assert.equal(
      execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: path.join(backupDir(), ROUND, result.backupId) }).toString().trim().split('\n').length,
      2,
      'SHA256SUMS checks with sha256sum -c',
    );
    const revision = JSON.parse(fs.readFileSync(path.join(bed.stateDir, 'projects', ROUND, 'revisions', '000001.json'), 'utf8'));
    assert.deepEqual(revision.links.backups, [result.backupId], 'the backup is linked to the project\'s revision');

    const listed = (await bed.env.client.workflow.execute('backups', { taskQueue: TASK_QUEUE, workflowId: wfId('list'), args: [{ project: ROUND }] })) as BackupListing;
    assert.deepEqual(listed.backups.map((b) => b.id), [result.backupId]);

    // Destroy the data and leave litter that a restore must clear.
    await execIn(bed.docker, db, ['sh', '-c', 'rm -rf /data/* /data/.secret && echo junk > /data/junk && echo changed > /data/a2.txt']);
    fs.rmSync(path.join(dir, 'files'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'files'));
    fs.writeFileSync(path.join(dir, 'files', 'junk'), 'junk');
    assert.notEqual(await containerTree(bed, db, '/data'), volumeBefore);
    const dbStartedBefore = (await bed.docker.getContainer(db).inspect()).State.StartedAt;

    const restored = (await bed.env.client.workflow.execute('restore', {
      taskQueue: TASK_QUEUE,
      workflowId: wfId('restore'),
      args: [{ project: ROUND, backupId: result.backupId }],
    })) as RestoreResult;
    assert.deepEqual(restored.restored, ['db-data', './files']);
    assert.deepEqual(restored.restarted, [db, `${ROUND}-app-1`], 'users of the data were stopped and started again, dependencies first');
    assert.equal(await containerTree(bed, db, '/data'), volumeBefore, 'volume: same files, bytes, owners, modes, links; junk gone');
    assert.deepEqual(hostTree(path.join(dir, 'files')), bindBefore, 'bind directory: same files and bytes; junk gone');
    assert.ok(await running(db));
    const app = await bed.docker.getContainer(`${ROUND}-app-1`).inspect();
    assert.equal(app.State.Health?.Status, 'healthy');
    assert.notEqual((await bed.docker.getContainer(db).inspect()).State.StartedAt, dbStartedBefore, 'db was restarted around the restore');
    const helpers = await bed.docker.listContainers({ all: true, filters: { label: ['io.dockflow.helper'] } });
    assert.deepEqual(helpers.map((h) => h.Names[0]), [], 'no helper container left');

    // The volume gone altogether (down -v): restore creates it again, labels included, so a deploy adopts it.
    await bed.env.client.workflow.execute('down', { taskQueue: TASK_QUEUE, workflowId: wfId('down'), args: [{ project: ROUND, volumes: true }] });
    await assert.rejects(bed.docker.getVolume(`${ROUND}_db-data`).inspect());
    await bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore'), args: [{ project: ROUND, backupId: result.backupId, volumes: ['db-data'] }] });
    const volume = await bed.docker.getVolume(`${ROUND}_db-data`).inspect();
    assert.equal(volume.Labels?.[Label.project], ROUND);
    await deploy(dir);
    assert.equal(await containerTree(bed, db, '/data'), volumeBefore, 'a recreated volume holds the backup');
  });

  it('refuses a corrupted archive or an unknown backup before touching anything, naming them', async () => {
    const db = `${ROUND}-db-1`;
    const taken = (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('round2'), args: [{ project: ROUND, volumes: ['db-data'] }] })) as BackupResult;
    const file = path.join(backupDir(), ROUND, taken.backupId, 'volume-db-data.tar.gz');
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
    await execIn(bed.docker, db, ['sh', '-c', 'echo after-backup > /data/marker']);
    const startedAt = (await bed.docker.getContainer(db).inspect()).State.StartedAt;

    const corrupt = bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('corrupt'), args: [{ project: ROUND, backupId: taken.backupId }] });
    await assert.rejects(corrupt, (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(failureMessage(err), new RegExp(`archive volume-db-data.tar.gz \\(db-data\\) of backup ${taken.backupId} of project ${ROUND} .* does not match its record`));
      return true;
    });
    assert.equal((await execIn(bed.docker, db, ['cat', '/data/marker'])).trim(), 'after-backup', 'the data was not touched');
    assert.equal((await bed.docker.getContainer(db).inspect()).State.StartedAt, startedAt, 'db was never stopped');

    await assert.rejects(
      bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('missing'), args: [{ project: ROUND, backupId: '20000101-000000-00000000' }] }),
      (err: unknown) => /project itbkround has no complete backup 20000101-000000-00000000/.test(failureMessage(err)),
    );
    await assert.rejects(
      bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('badvol'), args: [{ project: ROUND, volumes: ['nope'] }] }),
      (err: unknown) => /project itbkround has no volume or bind mount "nope" \(volumes: db-data; bind mounts: \.\/files\)/.test(failureMessage(err)),
    );
    await assert.rejects(
      bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('badinput'), args: [{ project: ROUND, keep: 3 }] }),
      (err: unknown) => /invalid backup input:\ninput: Unrecognized key: "keep"/.test(failureMessage(err)),
    );
  });

  it('stops marked services around the archive of a SQLite-style directory, runs hooks, and starts them again', async () => {
    const writer = `["sh", "-c", "trap 'exit 0' TERM; while true; do date >> /app/data/app.db; sleep 0.2; done"]`;
    const dir = projectDir(SQLITE, {
      'docker-compose.yml': `
name: ${SQLITE}
services:
  app:
    image: dockflow/busybox:1
    command: ${writer}
    volumes: ["./data:/app/data"]
    x-dockflow:
      backup:
        stop: true
        pre: ["cp /app/data/app.db /app/data/app.db.bak"]
        post: [["rm", "/app/data/app.db.bak"]]
  worker:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: ["./data:/app/data"]
    labels:
      docker-volume-backup.stop-during-backup: "true"
  other:
    image: dockflow/busybox:1
    command: ${IDLE}
`,
      'data/.keep': '',
    });
    await deploy(dir);
    await new Promise((r) => setTimeout(r, 1000));
    const startedBefore = async (name: string) => (await bed.docker.getContainer(`${SQLITE}-${name}-1`).inspect()).State.StartedAt;
    const before = { app: await startedBefore('app'), worker: await startedBefore('worker'), other: await startedBefore('other') };
    const since = Math.floor(Date.now() / 1000) - 1;

    const result = (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('sqlite'), args: [{ project: SQLITE }] })) as BackupResult;
    const until = Math.ceil(Date.now() / 1000) + 1;
    assert.deepEqual(result.stopped, [`${SQLITE}-app-1`, `${SQLITE}-worker-1`]);
    for (const name of ['app', 'worker', 'other']) assert.ok(await running(`${SQLITE}-${name}-1`), `${name} runs after the backup`);
    assert.notEqual(await startedBefore('app'), before.app, 'app was stopped and started again');
    assert.notEqual(await startedBefore('worker'), before.worker, 'worker (offen label) was stopped and started again');
    assert.equal(await startedBefore('other'), before.other, 'other has no data in the backup and kept running');

    // Docker's event log: both writers died before the helper that read the data existed, and started after.
    const events = await dockerEvents(bed, since, until);
    const at = (name: string, action: string) => events.find((e) => (e.Action ?? e.status) === action && e.Actor?.Attributes?.name === name)?.timeNano;
    const helperCreated = events.find((e) => (e.Action ?? e.status) === 'create' && e.Actor?.Attributes?.['io.dockflow.helper'] === 'backup')?.timeNano;
    assert.ok(helperCreated, 'a helper container read the data');
    for (const name of [`${SQLITE}-app-1`, `${SQLITE}-worker-1`]) {
      const died = at(name, 'die');
      const started = events.filter((e) => (e.Action ?? e.status) === 'start' && e.Actor?.Attributes?.name === name).at(-1)?.timeNano;
      assert.ok(died && started, `${name} died and started during the backup`);
      assert.ok(died < helperCreated && helperCreated < started, `${name} was stopped while its data was archived`);
    }

    const manifest = readManifest(SQLITE, result.backupId);
    assert.deepEqual(manifest.hooks.map((h) => [h.phase, h.service, h.outcome]), [['pre', 'app', 'ok'], ['post', 'app', 'ok']]);
    assert.deepEqual(manifest.archives.map((a) => a.key), ['./data']);
    const listing = execFileSync('tar', ['-tzf', path.join(backupDir(), SQLITE, result.backupId, manifest.archives[0].archive)]).toString();
    assert.match(listing, /^dockflow-volume\/app\.db$/m);
    assert.match(listing, /^dockflow-volume\/app\.db\.bak$/m, 'the pre hook ran before the archive');
    assert.ok(!fs.existsSync(path.join(dir, 'data', 'app.db.bak')), 'the post hook ran after it');

    // A failing pre hook (on_error abort) stops the backup before anything is stopped, and leaves no backup behind.
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    (spec.services.app.extensions['x-dockflow'] as { backup: { pre: unknown[] } }).backup.pre = ['echo cannot dump >&2; exit 4'];
    const appStarted = await startedBefore('app');
    await assert.rejects(
      bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('hookfail'), args: [{ project: SQLITE, spec }] }),
      (err: unknown) => {
        assert.match(
          failureMessage(err),
          /^backup of itbksqlite failed: pre hook of service app \(services\.app\.x-dockflow\.backup\.pre\[0\]\) exited with code 4 in itbksqlite-app-1:\ncannot dump/,
        );
        return true;
      },
    );
    assert.equal(await startedBefore('app'), appStarted, 'nothing was stopped');
    const ids = fs.readdirSync(path.join(backupDir(), SQLITE));
    assert.deepEqual(ids, [result.backupId], 'the failed backup left no directory');

    // A pre hook past its timeout with on_error continue is a warning and the backup goes on; the post hook
    // (rm of a file that pre hook no longer makes) then fails with on_error abort: the workflow fails, the backup is kept.
    (spec.services.app.extensions['x-dockflow'] as { backup: { pre: unknown[] } }).backup.pre = [{ command: ['sleep', '30'], timeout: '1s', on_error: 'continue' }];
    let keptId = '';
    await assert.rejects(
      bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('hookslow'), args: [{ project: SQLITE, spec }] }),
      (err: unknown) => {
        const m = /^backup (\S+) of itbksqlite is complete, but: post hook of service app \(services\.app\.x-dockflow\.backup\.post\[0\]\) exited with code 1 in itbksqlite-app-1:\nrm: can't remove/.exec(failureMessage(err));
        assert.ok(m, failureMessage(err));
        keptId = m[1];
        return true;
      },
    );
    const kept = readManifest(SQLITE, keptId);
    assert.deepEqual(kept.hooks.map((h) => [h.phase, h.outcome]), [['pre', 'timed out'], ['post', 'failed']]);
    assert.equal(
      kept.warnings[0],
      'pre hook of service app (services.app.x-dockflow.backup.pre[0]) did not finish within 1 s in itbksqlite-app-1 (it may still be running there) (on_error: continue)',
    );
    assert.ok(await running(`${SQLITE}-app-1`));
  });

  it('survives a worker SIGKILLed mid-archive: services run again, no partial file, the backup completes verified', async () => {
    await stopWorker?.();
    stopWorker = undefined;
    const dir = projectDir(CRASH, {
      'docker-compose.yml': `
name: ${CRASH}
services:
  db:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: [big:/data]
    x-dockflow: {backup: {stop: true}}
volumes:
  big:
`,
    });
    children.push(await spawnWorker(bed));
    await deploy(dir);
    const db = `${CRASH}-db-1`;
    // Random bytes do not compress: archiving takes seconds, so the kill lands inside it.
    await execIn(bed.docker, db, ['sh', '-c', 'dd if=/dev/urandom of=/data/big bs=1M count=200 2>/dev/null && echo small > /data/small']);
    const expected = (await execIn(bed.docker, db, ['sha256sum', '/data/big'])).split(' ')[0];

    const workflowId = wfId('crash');
    const handle = await bed.env.client.workflow.start('backup', { taskQueue: TASK_QUEUE, workflowId, args: [{ project: CRASH }] });
    const projectBackups = path.join(backupDir(), CRASH);
    const deadline = Date.now() + 60_000;
    let partial: string | undefined;
    while (!partial && Date.now() < deadline) {
      partial = filesUnder(projectBackups).find((f) => f.includes('.partial-') && (fs.statSync(path.join(projectBackups, f), { throwIfNoEntry: false })?.size ?? 0) > 5_000_000);
      if (!partial) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(partial, 'the archive was being written');
    assert.equal(await running(db), false, 'db is stopped while its volume is archived');
    await killHard(children.at(-1)!);

    children.push(await spawnWorker(bed));
    const result = (await handle.result()) as BackupResult;
    assert.ok(await running(db), 'db was started again');
    const files = filesUnder(projectBackups);
    assert.deepEqual(files.filter((f) => f.includes('.partial')), [], 'no partial file remains');
    const manifest = readManifest(CRASH, result.backupId);
    const archive = path.join(projectBackups, result.backupId, manifest.archives[0].archive);
    assert.equal(sha256File(archive), manifest.archives[0].sha256, 'the archive is the one the manifest verified');
    // What is in the archive is what was in the volume.
    const extracted = fs.mkdtempSync(path.join(bed.stateDir, 'extract-'));
    execFileSync('tar', ['-xzf', archive, '-C', extracted]);
    assert.equal(sha256File(path.join(extracted, 'dockflow-volume', 'big')), expected);
    fs.rmSync(extracted, { recursive: true, force: true });

    const history = await handle.fetchHistory();
    const retried = history.events?.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ?? [];
    assert.ok(retried.length >= 1, 'the killed worker\'s archive attempt was retried on the new worker');
    const helpers = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.operation}=${workflowId}`] } });
    assert.deepEqual(helpers.map((h) => h.Names[0]), [], 'the helper container of the killed attempt was removed');
  });
});
