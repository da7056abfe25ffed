/**
 * Backups off the host, end to end: real Temporal dev server, real Docker,
 * a real S3 server (versitygw on 127.0.0.1). The workers hold the S3
 * settings and credentials and an encryption key in their environment; the
 * workflow inputs carry only `s3://bucket/prefix`.
 *
 * - round trip: a volume and a bind directory backed up to the bucket
 *   (manifest, SHA256SUMS and archives as objects), listed, destroyed,
 *   restored byte for byte; the credentials appear nowhere in the history;
 * - encrypted: the objects are ciphertext, the manifest says so, a restore
 *   brings the data back; an archive altered with a matching checksum in
 *   the manifest (what someone able to write the bucket could do) is
 *   refused, the data set left as it was;
 * - a worker SIGKILLed mid-upload: while it is dead no backup looks
 *   complete, the retry aborts the dead attempt's multipart upload, the
 *   backup completes, and no multipart upload is left;
 * - retention tiers on S3: older backups pruned by --keep-daily/--keep-monthly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { dataConverterFromEnv } from '../../src/temporal/codec';
import { parseKey } from '../../src/temporal/codec';
import type { BackupManifest } from '../../src/backup/manifest';
import type { BackupListing, BackupResult } from '../../workflows/backup';
import type { RestoreResult } from '../../workflows/restore';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, startWorker, workflowBundlePath, type TestBed } from '../support/harness';
import { hostTree } from '../support/host-tree';
import { startS3Server, type S3TestServer } from '../support/s3-server';

const TASK_QUEUE = 'it-s3';
const ROUND = 's3itround';
const CRASH = 's3itcrash';
const KEEP = 's3itkeep';
const BUCKET = 'dockflow-it';
const DEST = `s3://${BUCKET}/site-a`;
const KEY_TEXT = randomBytes(32).toString('base64');
const KEY_ID = parseKey(KEY_TEXT, 'test').id;

const IDLE = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;

let seq = 0;
const wfId = (name: string) => `it-s3-${name}-${Date.now()}-${++seq}`;

async function containerTree(bed: TestBed, container: string, dir: string): Promise<string> {
  const script = `cd ${dir} && find . -type f -exec sha256sum {} + | sort && find . -exec stat -c '%n %u:%g %a %F' {} + | sort`;
  return execIn(bed.docker, container, ['sh', '-c', script]);
}

describe('backups to S3 (versitygw) against real Docker and Temporal', () => {
  let bed: TestBed;
  let s3: S3TestServer;
  let client: Client;
  let stopWorker: (() => Promise<void>) | undefined;
  const children: ChildProcess[] = [];
  const savedEnv: Record<string, string | undefined> = {};
  const timings: string[] = [];

  before(async () => {
    s3 = await startS3Server(BUCKET);
    bed = await startTestBed(TASK_QUEUE);
    for (const p of [ROUND, CRASH, KEEP]) await removeProject(bed.docker, p);
    // The worker's environment: S3 settings and credentials, and its key. Never a workflow input.
    for (const [k, v] of Object.entries({ ...s3.env, DOCKFLOW_ENCRYPTION_KEY: KEY_TEXT })) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    const dataConverter = dataConverterFromEnv();
    client = new Client({ connection: bed.env.connection, namespace: 'default', dataConverter });
    stopWorker = await startWorker(bed, { dataConverter });
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    for (const p of [ROUND, CRASH, KEEP]) await removeProject(bed.docker, p);
    await bed?.teardown();
    await s3?.stop();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (timings.length) console.log(`# S3 throughput: ${timings.join('; ')}`);
  });

  async function deploy(dir: string): Promise<void> {
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId('deploy'), args: [{ spec }] });
  }

  async function objects(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    return keys.sort();
  }

  async function getObject(key: string): Promise<Buffer> {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async function putObject(key: string, body: Buffer | string): Promise<void> {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }

  async function uploads(): Promise<{ Key?: string; UploadId?: string }[]> {
    return (await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];
  }

  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('round trip through the bucket: objects, listing, restore byte for byte; no credentials in the history', async () => {
    const dir = projectDir(ROUND, {
      'docker-compose.yml': `
name: ${ROUND}
services:
  db:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: [db-data:/data, "./files:/files"]
volumes:
  db-data:
`,
      'files/x.txt': 'bind mounted\n',
      'files/nested/y.bin': randomBytes(200_000).toString('base64'),
    });
    await deploy(dir);
    const db = `${ROUND}-db-1`;
    await execIn(bed.docker, db, ['sh', '-c', 'mkdir -p /data/sub && echo alpha > /data/a.txt && dd if=/dev/urandom of=/data/sub/b.bin bs=1M count=8 2>/dev/null && chown 1000:1000 /data/a.txt']);
    const volumeBefore = await containerTree(bed, db, '/data');
    const bindBefore = hostTree(path.join(dir, 'files'));

    const workflowId = wfId('round');
    const result = (await client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId, args: [{ project: ROUND, destination: DEST }] })) as BackupResult;
    assert.equal(result.destination, `S3 bucket ${DEST}`);
    const prefix = `site-a/${ROUND}/${result.backupId}/`;
    const manifest = JSON.parse((await getObject(`${prefix}manifest.json`)).toString()) as BackupManifest;
    assert.deepEqual(
      await objects(`site-a/${ROUND}/`),
      [`${prefix}SHA256SUMS`, ...manifest.archives.map((a) => `${prefix}${a.archive}`), `${prefix}manifest.json`].sort(),
    );
    for (const a of manifest.archives) {
      const stored = await getObject(`${prefix}${a.archive}`);
      assert.equal(sha256(stored), a.sha256, `${a.archive}: the manifest's checksum is the object's`);
      assert.equal(stored.length, a.archiveBytes);
      assert.equal(a.encryption, undefined);
    }
    assert.match((await getObject(`${prefix}SHA256SUMS`)).toString(), new RegExp(`^${manifest.archives[0].sha256}  ${manifest.archives[0].archive}$`, 'm'));

    const listed = (await client.workflow.execute('backups', { taskQueue: TASK_QUEUE, workflowId: wfId('list'), args: [{ project: ROUND, destination: DEST }] })) as BackupListing;
    assert.deepEqual(listed.backups.map((b) => b.id), [result.backupId]);
    assert.deepEqual(listed.incomplete, []);

    // What Temporal stored: the destination's name, never the S3 secret or access key (the payloads are
    // encrypted too; decoded here with the key, so this checks what the workflow was given).
    const history = JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
    for (const secret of [s3.env.AWS_SECRET_ACCESS_KEY, s3.env.AWS_ACCESS_KEY_ID]) assert.ok(!history.includes(secret));

    await execIn(bed.docker, db, ['sh', '-c', 'rm -rf /data/* && echo junk > /data/junk && rm -rf /files/*']);
    const started = Date.now();
    const restored = (await client.workflow.execute('restore', {
      taskQueue: TASK_QUEUE,
      workflowId: wfId('restore'),
      args: [{ project: ROUND, backupId: result.backupId, destination: DEST }],
    })) as RestoreResult;
    timings.push(`round trip restore of ${(manifest.archives.reduce((n, a) => n + a.archiveBytes, 0) / 1e6).toFixed(1)} MB in ${Date.now() - started} ms`);
    assert.deepEqual(restored.restored, ['db-data', './files']);
    assert.equal(await containerTree(bed, db, '/data'), volumeBefore, 'volume: same files, bytes, owners and modes; junk gone');
    assert.deepEqual(hostTree(path.join(dir, 'files')), bindBefore, 'bind directory: same files and bytes');
  });

  it('encrypted: ciphertext in the bucket, the manifest says so, restore works; an altered archive with a matching checksum is refused', async () => {
    const db = `${ROUND}-db-1`;
    const before = await containerTree(bed, db, '/data');
    const taken = (await client.workflow.execute('backup', {
      taskQueue: TASK_QUEUE,
      workflowId: wfId('enc'),
      args: [{ project: ROUND, volumes: ['db-data'], destination: DEST, encrypt: true }],
    })) as BackupResult;
    const prefix = `site-a/${ROUND}/${taken.backupId}/`;
    const manifest = JSON.parse((await getObject(`${prefix}manifest.json`)).toString()) as BackupManifest;
    assert.deepEqual(manifest.archives[0].encryption, { scheme: 'aes-256-gcm-chunked-v1', keyId: KEY_ID });
    const stored = await getObject(`${prefix}volume-db-data.tar.gz`);
    assert.equal(stored.subarray(0, 8).toString(), 'DFARCH01', 'the object is an encrypted archive, not gzip');
    assert.equal(sha256(stored), manifest.archives[0].sha256, 'the checksum is over what is stored');
    const listed = (await client.workflow.execute('backups', { taskQueue: TASK_QUEUE, workflowId: wfId('list'), args: [{ project: ROUND, destination: DEST }] })) as BackupListing;
    assert.equal(listed.backups.find((b) => b.id === taken.backupId)?.archives[0].encrypted, true);

    await execIn(bed.docker, db, ['sh', '-c', 'rm -rf /data/sub']);
    await client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore'), args: [{ project: ROUND, backupId: taken.backupId, destination: DEST }] });
    assert.equal(await containerTree(bed, db, '/data'), before, 'the encrypted backup restores byte for byte');

    // Someone who can write the bucket alters the archive and fixes up the manifest's checksum and size.
    const altered = Buffer.from(stored);
    altered[Math.floor(altered.length / 2)] ^= 0x01;
    const forged = { ...manifest, archives: [{ ...manifest.archives[0], sha256: sha256(altered), archiveBytes: altered.length }] };
    await putObject(`${prefix}volume-db-data.tar.gz`, altered);
    await putObject(`${prefix}manifest.json`, `${JSON.stringify(forged, null, 2)}\n`);
    await execIn(bed.docker, db, ['sh', '-c', 'echo after-backup > /data/marker']);
    const changed = await containerTree(bed, db, '/data');
    const err = await client.workflow
      .execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore'), args: [{ project: ROUND, backupId: taken.backupId, destination: DEST }] })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError, 'the restore fails');
    assert.match(failureMessage(err), /archive volume-db-data\.tar\.gz of backup .* is damaged: it does not decrypt: frame \d+ fails authentication/);
    assert.equal(await containerTree(bed, db, '/data'), changed, 'the data set is as it was');
  });

  it('a worker SIGKILLed mid-upload: nothing looks complete meanwhile, the retry aborts the dead upload, the backup completes, no multipart upload is left', async () => {
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
volumes:
  big:
`,
    });
    const workerEnv = { ...s3.env, DOCKFLOW_ENCRYPTION_KEY: KEY_TEXT, DOCKFLOW_WORKFLOW_BUNDLE: await workflowBundlePath({ encrypted: true }) };
    children.push(await spawnWorker(bed, workerEnv));
    await deploy(dir);
    const db = `${CRASH}-db-1`;
    // Random bytes do not compress: the upload takes seconds, so the kill lands inside it.
    await execIn(bed.docker, db, ['sh', '-c', 'dd if=/dev/urandom of=/data/big bs=1M count=96 2>/dev/null']);
    const expected = (await execIn(bed.docker, db, ['sha256sum', '/data/big'])).split(' ')[0];

    const workflowId = wfId('crash');
    const started = Date.now();
    const handle = await client.workflow.start('backup', { taskQueue: TASK_QUEUE, workflowId, args: [{ project: CRASH, destination: DEST }] });
    // Kill once the multipart upload has parts on the server.
    const deadline = Date.now() + 120_000;
    let dead: { Key?: string; UploadId?: string } | undefined;
    while (!dead && Date.now() < deadline) {
      for (const u of await uploads()) {
        if (!u.Key?.startsWith(`site-a/${CRASH}/`)) continue;
        const parts = await s3.client.send(new ListPartsCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId })).catch(() => undefined);
        if ((parts?.Parts?.length ?? 0) >= 2) dead = u;
      }
      if (!dead) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(dead, 'the archive was being uploaded in parts');
    await killHard(children.at(-1)!);

    // While no worker runs: an unfinished upload is no object, and there is no manifest.
    const meanwhile = await objects(`site-a/${CRASH}/`);
    assert.deepEqual(meanwhile.filter((k) => k.endsWith('manifest.json') || k.endsWith('.tar.gz')), [], 'nothing that looks like a complete backup');
    assert.ok((await uploads()).some((u) => u.UploadId === dead!.UploadId), 'the dead attempt\'s upload is still open');

    children.push(await spawnWorker(bed, workerEnv));
    const result = (await handle.result()) as BackupResult;
    timings.push(`backup of 96 MiB (with a SIGKILL and a retry) in ${Date.now() - started} ms`);
    assert.deepEqual(await uploads(), [], 'no multipart upload is left: the dead one was aborted, the retry\'s completed');
    const prefix = `site-a/${CRASH}/${result.backupId}/`;
    const manifest = JSON.parse((await getObject(`${prefix}manifest.json`)).toString()) as BackupManifest;
    const retried = (await handle.fetchHistory()).events?.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ?? [];
    assert.ok(retried.length >= 1, 'the archive attempt was retried on the new worker');

    // The archive in the bucket is the volume: restore it over changed data and compare.
    await execIn(bed.docker, db, ['sh', '-c', 'echo changed > /data/big']);
    const restoreStarted = Date.now();
    await client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore'), args: [{ project: CRASH, backupId: result.backupId, destination: DEST }] });
    timings.push(`restore of ${(manifest.archives[0].archiveBytes / 1048576).toFixed(0)} MiB from the bucket in ${Date.now() - restoreStarted} ms`);
    assert.equal((await execIn(bed.docker, db, ['sha256sum', '/data/big'])).split(' ')[0], expected);
  });

  it('retention tiers on S3: --keep-daily and --keep-monthly prune older backups in the bucket', async () => {
    const dir = projectDir(KEEP, {
      'docker-compose.yml': `
name: ${KEEP}
services:
  app:
    image: dockflow/busybox:1
    command: ${IDLE}
    volumes: [data:/data]
volumes:
  data:
`,
    });
    const workerEnv = { ...s3.env, DOCKFLOW_ENCRYPTION_KEY: KEY_TEXT, DOCKFLOW_WORKFLOW_BUNDLE: await workflowBundlePath({ encrypted: true }) };
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) children.push(await spawnWorker(bed, workerEnv));
    await deploy(dir);
    const first = (await client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId('keep'), args: [{ project: KEEP, destination: DEST }] })) as BackupResult;
    // Older complete backups, as earlier days and months would have left them (manifests only: retention reads nothing else).
    const template = JSON.parse((await getObject(`site-a/${KEEP}/${first.backupId}/manifest.json`)).toString()) as BackupManifest;
    const now = new Date();
    const at = (monthsBack: number, day: number, hour: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, day, hour)).toISOString();
    const older = [at(2, 10, 3), at(1, 20, 3), at(1, 25, 3), at(1, 27, 3), at(1, 27, 15)];
    const ids = older.map((t, i) => `${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}-0000000${i}`);
    for (const [i, id] of ids.entries()) {
      await putObject(`site-a/${KEEP}/${id}/manifest.json`, JSON.stringify({ ...template, id, createdAt: older[i], completedAt: older[i], verifiedAt: older[i] }));
      await putObject(`site-a/${KEEP}/${id}/volume-data.tar.gz`, 'old');
    }
    const taken = (await client.workflow.execute('backup', {
      taskQueue: TASK_QUEUE,
      workflowId: wfId('keep'),
      args: [{ project: KEEP, destination: DEST, keepDaily: 1, keepMonthly: 3 }],
    })) as BackupResult;
    // Newest first: the one just taken (daily for today, monthly for this month); the earlier one today
    // (neither); last month's newest, the 27th at 15:00 (monthly); the month before's only one (monthly).
    const kept = [taken.backupId, ids[4], ids[0]].sort();
    assert.deepEqual([...taken.pruned].sort(), [first.backupId, ids[1], ids[2], ids[3]].sort());
    const left = [...new Set((await objects(`site-a/${KEEP}/`)).map((k) => k.split('/')[2]))].sort();
    assert.deepEqual(left, kept, 'the pruned backups\' objects are gone from the bucket');
  });
});
