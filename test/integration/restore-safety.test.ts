/**
 * A restore never destroys the only copy, and a backup's manifest is
 * untrusted: real Temporal dev server, real Docker, the real worker.
 *
 * - an archive damaged at its tail whose manifest checksum was "fixed" to
 *   match passes the pre-check, then fails while streaming: the data sets
 *   hold their old bytes, nothing of the restore is left inside them;
 * - a worker SIGKILLed while it extracts a large archive: the restore
 *   finishes on a new worker, and the volume holds exactly the backup's tree;
 * - tampered manifests (a `$(...)` root, a source pointing outside the
 *   project, an id naming another folder) are refused before anything is
 *   touched: canary files stay, retention deletes nothing it should keep.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import type { BackupManifest } from '../../src/backup/manifest';
import type { BackupResult } from '../../workflows/backup';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-restore-safety';
const PROJECT = 'itrestoresafe';
const IDLE = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;

let seq = 0;
const wfId = (name: string) => `it-rs-${name}-${Date.now()}-${++seq}`;

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** path → sha256 (files), "dir", "-> target" (symlinks), with owner and mode, of everything under a host directory. */
function hostTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      const st = fs.lstatSync(p);
      const meta = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
      if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[`${rel}/`] = `dir ${meta}`;
        walk(p);
      } else out[rel] = `${sha256(fs.readFileSync(p))} ${meta}`;
    }
  };
  walk(dir);
  return Object.fromEntries(Object.entries(out).sort());
}

describe('restore safety and untrusted manifests against real Docker and Temporal', () => {
  let bed: TestBed;
  const workers: ChildProcess[] = [];
  let dir = '';
  let mountpoint = '';
  const canaryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-it-restore-canary-'));

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    workers.push(await spawnWorker(bed));
    dir = projectDir(PROJECT, {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  db:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: [data:/data]
    x-dockflow: {backup: {stop: true}}
  app:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: ["./files:/files"]
volumes:
  data:
`,
      'files/kept.txt': 'bind data\n',
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId('deploy'), args: [{ spec }] });
    mountpoint = (await bed.docker.getVolume(`${PROJECT}_data`).inspect()).Mountpoint;
  });

  after(async () => {
    for (const w of workers) await killHard(w);
    await removeProject(bed.docker, PROJECT);
    fs.rmSync(canaryDir, { recursive: true, force: true });
    await bed?.teardown();
  });

  const backupDir = () => path.join(bed.stateDir, 'backups', PROJECT);
  const manifestFile = (id: string) => path.join(backupDir(), id, 'manifest.json');
  const readManifest = (id: string): BackupManifest => JSON.parse(fs.readFileSync(manifestFile(id), 'utf8'));
  const writeManifest = (id: string, m: unknown) => fs.writeFileSync(manifestFile(id), JSON.stringify(m, null, 2));
  const backup = async (extra: Record<string, unknown> = {}) =>
    (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('backup'), args: [{ project: PROJECT, ...extra }] })) as BackupResult;
  const restoreLeftovers = (root: string) => fs.readdirSync(root).filter((e) => e.startsWith('.dockflow-restore-'));
  const helpersLeft = async () => (await bed.docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`, 'io.dockflow.helper'] } })).map((c) => c.Names[0]);

  async function failedRestore(backupId: string, pattern: RegExp): Promise<string> {
    let message = '';
    await assert.rejects(bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore'), args: [{ project: PROJECT, backupId }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      message = failureMessage(err);
      assert.match(message, pattern);
      return true;
    });
    return message;
  }

  it('an archive damaged at its tail (manifest checksum fixed to match) fails mid-stream and leaves every data set byte for byte as it was', async () => {
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'rm -rf /data/* && dd if=/dev/urandom of=/data/big bs=1M count=8 2>/dev/null && echo v1 > /data/version && mkdir -p /data/d && echo x > /data/d/.dot']);
    const taken = await backup();
    // The data changes after the backup: this is what must survive the failed restore.
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'echo v2 > /data/version && echo after > /data/after-backup && chmod 640 /data/after-backup']);
    fs.writeFileSync(path.join(dir, 'files', 'after-backup.txt'), 'bind after\n');
    const volumeBefore = hostTree(mountpoint);
    const bindBefore = hostTree(path.join(dir, 'files'));

    const m = readManifest(taken.backupId);
    const entry = m.archives.find((a) => a.key === 'data')!;
    const file = path.join(backupDir(), taken.backupId, entry.archive);
    const bytes = fs.readFileSync(file);
    for (let i = bytes.length - 64; i < bytes.length - 16; i++) bytes[i] ^= 0x5a;
    fs.writeFileSync(file, bytes);
    entry.sha256 = sha256(bytes);
    writeManifest(taken.backupId, m);

    // Volumes are restored before binds: the damaged volume stops the restore; each data set must be whole, old or new.
    await failedRestore(taken.backupId, new RegExp(`archive volume-data\\.tar\\.gz of backup ${taken.backupId} \\(volume data \\(${PROJECT}_data\\) of project ${PROJECT}\\) is damaged: .*nothing was restored, the data set is as it was`));
    assert.deepEqual(hostTree(mountpoint), volumeBefore, 'the volume holds its old bytes, owners and modes');
    assert.deepEqual(restoreLeftovers(mountpoint), [], 'no staging or kept-aside copy left in the volume');
    const bindAfter = hostTree(path.join(dir, 'files'));
    assert.ok(
      JSON.stringify(bindAfter) === JSON.stringify(bindBefore) || !('after-backup.txt' in bindAfter),
      `the bind directory holds its old or its restored contents: ${JSON.stringify(bindAfter)}`,
    );
    assert.deepEqual(restoreLeftovers(path.join(dir, 'files')), []);
    assert.deepEqual(await helpersLeft(), []);
    assert.ok((await bed.docker.getContainer(`${PROJECT}-db-1`).inspect()).State.Running, 'db was started again');
    fs.rmSync(path.join(backupDir(), taken.backupId), { recursive: true });
  });

  it('a worker SIGKILLed while it extracts a large archive: the restore finishes on a new worker with exactly the backup\'s tree', async () => {
    // Random bytes do not compress: extracting takes seconds, so the kill lands inside it.
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'rm -rf /data/* && dd if=/dev/urandom of=/data/big bs=1M count=160 2>/dev/null && echo backed-up > /data/version']);
    const backedUp = hostTree(mountpoint);
    const taken = await backup({ volumes: ['data'] });
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'echo changed > /data/version && rm /data/big && echo new > /data/new-file']);
    const changed = hostTree(mountpoint);

    const handle = await bed.env.client.workflow.start('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore-kill'), args: [{ project: PROJECT, backupId: taken.backupId }] });
    const deadline = Date.now() + 120_000;
    let extracting = false;
    while (!extracting && Date.now() < deadline) {
      const staging = fs.readdirSync(mountpoint).find((e) => e.startsWith('.dockflow-restore-new-'));
      const big = staging ? fs.statSync(path.join(mountpoint, staging, 'dockflow-volume', 'big'), { throwIfNoEntry: false }) : undefined;
      extracting = (big?.size ?? 0) > 10_000_000;
      if (!extracting) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(extracting, 'the archive was being extracted into the staging directory');
    const during = Object.fromEntries(Object.entries(hostTree(mountpoint)).filter(([k]) => !k.startsWith('.dockflow-restore-')));
    assert.deepEqual(during, changed, 'the old contents are untouched while extracting');
    await killHard(workers.at(-1)!);
    workers.push(await spawnWorker(bed));
    await handle.result();

    assert.deepEqual(hostTree(mountpoint), backedUp, 'the volume holds exactly the backup\'s tree');
    assert.deepEqual(restoreLeftovers(mountpoint), []);
    assert.deepEqual(await helpersLeft(), []);
    const history = await handle.fetchHistory();
    assert.ok((history.events ?? []).some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1), 'the killed attempt was retried on the new worker');
    fs.rmSync(path.join(backupDir(), taken.backupId), { recursive: true });
  });

  it('refuses tampered manifests before touching anything: a $(...) root, a source outside the project', async () => {
    await execIn(bed.docker, `${PROJECT}-db-1`, ['sh', '-c', 'rm -rf /data/* && echo canary > /data/canary']);
    fs.writeFileSync(path.join(canaryDir, 'canary'), 'outside\n');
    const taken = await backup();
    const original = readManifest(taken.backupId);
    const volumeBefore = hostTree(mountpoint);
    const bindBefore = hostTree(path.join(dir, 'files'));
    const startedAt = (await bed.docker.getContainer(`${PROJECT}-db-1`).inspect()).State.StartedAt;
    const file = `manifest ${PROJECT}/${taken.backupId}/manifest.json in local directory ${path.join(bed.stateDir, 'backups')}`;
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

    // The root once reached a shell script: `cd /$(touch ...) && rm -rf -- *` cleared the helper's / and the volume in it.
    const volumeIndex = original.archives.findIndex((a) => a.key === 'data');
    const shell = structuredClone(original) as unknown as { archives: Record<string, unknown>[] };
    shell.archives[volumeIndex].root = '$(touch /dockflow-pwned)';
    writeManifest(taken.backupId, shell);
    await failedRestore(taken.backupId, new RegExp(`^${escape(file)}: archives\\[${volumeIndex}\\]\\.root: `));

    // A source pointing outside the project once chose what the restore cleared.
    const bindIndex = original.archives.findIndex((a) => a.kind === 'bind');
    const outside = structuredClone(original);
    outside.archives[bindIndex].source = canaryDir;
    writeManifest(taken.backupId, outside);
    await failedRestore(taken.backupId, new RegExp(`^${escape(file)}: archives\\[${bindIndex}\\]\\.source: "${escape(canaryDir)}" is not the source of data set \\./files of project ${PROJECT}`));

    // Shell metacharacters as a volume name.
    const named = structuredClone(original);
    named.archives[volumeIndex].source = '$(touch /tmp/dockflow-pwned)';
    writeManifest(taken.backupId, named);
    await failedRestore(taken.backupId, new RegExp(`^${escape(file)}: archives\\[${volumeIndex}\\]\\.source: "\\$\\(touch /tmp/dockflow-pwned\\)" is not a Docker volume name`));

    assert.equal(fs.readFileSync(path.join(canaryDir, 'canary'), 'utf8'), 'outside\n', 'the directory outside the project was not touched');
    assert.deepEqual(hostTree(mountpoint), volumeBefore, 'the volume was not touched');
    assert.deepEqual(hostTree(path.join(dir, 'files')), bindBefore, 'the bind directory was not touched');
    assert.equal(fs.existsSync('/tmp/dockflow-pwned'), false);
    assert.equal((await bed.docker.getContainer(`${PROJECT}-db-1`).inspect()).State.StartedAt, startedAt, 'db was never stopped');
    assert.deepEqual(await helpersLeft(), [], 'no helper container was even created');
    writeManifest(taken.backupId, original);
  });

  it('retention deletes by folder name: a manifest whose id names another folder is skipped and reported, and deletes nothing', async () => {
    for (const id of fs.readdirSync(backupDir())) fs.rmSync(path.join(backupDir(), id), { recursive: true });
    const first = await backup({ volumes: ['data'] });
    await new Promise((r) => setTimeout(r, 1100)); // backup IDs carry the start second
    const second = await backup({ volumes: ['data'] });
    // A folder with an older name whose manifest claims to be the second backup.
    const forged = '20000101-000000-0badf00d';
    fs.cpSync(path.join(backupDir(), first.backupId), path.join(backupDir(), forged), { recursive: true });
    const m = readManifest(forged);
    writeManifest(forged, { ...m, id: second.backupId, createdAt: '2000-01-01T00:00:00.000Z' });
    await new Promise((r) => setTimeout(r, 1100));

    const third = await backup({ volumes: ['data'], keepLast: 2 });
    assert.deepEqual(third.pruned, [first.backupId], 'only the oldest real backup was pruned');
    assert.deepEqual(fs.readdirSync(backupDir()).sort(), [forged, second.backupId, third.backupId].sort(), 'the second backup and the forged folder are still there');
    assert.ok(
      third.warnings.some((w) => w.includes(`${PROJECT}/${forged}/manifest.json`) && w.includes(`id: "${second.backupId}" is not the name of the folder it is in (${forged})`)),
      `the forged folder is reported: ${JSON.stringify(third.warnings)}`,
    );
  });
});
