/**
 * The S3 destination against a real S3 server (versitygw, posix backend, on
 * 127.0.0.1): multipart writes that become objects only on commit, aborts
 * that leave no multipart upload behind, listing (an unfinished upload shows
 * its backup folder), removal, and key checks that keep every object inside
 * its project's prefix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { openDestination } from '../../src/backup/open-destination';
import { S3Destination } from '../../src/backup/s3-destination';
import { startS3Server, type S3TestServer } from '../support/s3-server';
import { runCli } from '../support/harness';

const ID = '20261122-030000-1a2b3c4d';

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('S3 destination against versitygw', () => {
  let s3: S3TestServer;
  const dest = () => openDestination(`s3://${s3.bucket}/site-a/backups`, '/unused', s3.env) as S3Destination;

  before(async () => {
    s3 = await startS3Server('s3dest-bucket');
  });
  after(async () => {
    await s3?.stop();
  });

  async function uploads(): Promise<string[]> {
    const out = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
    return (out.Uploads ?? []).map((u) => u.Key!);
  }

  async function objects(): Promise<string[]> {
    const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  }

  it('writes a multipart object only on commit, reads it back byte for byte, lists and removes it', async () => {
    const d = dest();
    const data = randomBytes(40 * 1024 * 1024 + 123);
    const key = `shop/${ID}/volume-db.tar.gz`;
    const w = await d.openWrite(key, 'wf-a1');
    await pipeline(Readable.from([data.subarray(0, 7_000_000), data.subarray(7_000_000)]), w.stream);
    assert.equal(await d.exists(key), false, 'nothing visible before commit');
    assert.deepEqual(await uploads(), ['site-a/backups/shop/20261122-030000-1a2b3c4d/volume-db.tar.gz'], 'a multipart upload in progress');
    assert.deepEqual(await d.list('shop'), [ID], 'the unfinished backup shows as a folder');
    await w.commit();
    assert.equal(await d.exists(key), true);
    assert.deepEqual(await uploads(), []);
    const back = await drain(await d.openRead(key));
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await d.writeText(`shop/${ID}/manifest.json`, '{}\n', 'wf');
    assert.equal(await d.readText(`shop/${ID}/manifest.json`), '{}\n');
    assert.equal(await d.readText(`shop/${ID}/SHA256SUMS`), undefined);
    assert.deepEqual(await d.list(`shop/${ID}`), ['manifest.json', 'volume-db.tar.gz']);
    assert.deepEqual(await d.list('shop'), [ID]);
    assert.deepEqual(await d.list('other'), []);
    await d.remove(`shop/${ID}`);
    assert.deepEqual(await objects(), []);
  });

  it('an aborted write leaves neither an object nor a multipart upload', async () => {
    const d = dest();
    const key = `shop/${ID}/volume-big.tar.gz`;
    const w = await d.openWrite(key, 'wf-a1');
    const failing = new Readable({
      read() {
        this.push(randomBytes(1024 * 1024));
      },
    });
    let sent = 0;
    const cut = new Writable({
      write(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        if (sent > 30 * 1024 * 1024) return done(new Error('the archive broke'));
        if (!w.stream.write(chunk)) w.stream.once('drain', () => done());
        else done();
      },
    });
    await assert.rejects(pipeline(failing, cut), /the archive broke/);
    await w.abort();
    assert.deepEqual(await uploads(), []);
    assert.deepEqual(await objects(), []);
  });

  it('discardPending aborts an upload a dead writer left; removing a backup aborts its uploads too', async () => {
    const d = dest();
    const key = `shop/${ID}/volume-db.tar.gz`;
    // A writer that is never committed nor aborted: what a SIGKILLed worker leaves.
    const w = await d.openWrite(key, 'wf-a1');
    w.stream.write(randomBytes(20 * 1024 * 1024));
    const deadline = Date.now() + 30_000;
    while ((await uploads()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await uploads()).length, 1);
    await d.discardPending(key, 'wf');
    assert.deepEqual(await uploads(), []);
    w.stream.destroy();

    const w2 = await d.openWrite(`shop/${ID}/volume-x.tar.gz`, 'wf-a2');
    w2.stream.write(randomBytes(20 * 1024 * 1024));
    while ((await uploads()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await d.remove(`shop/${ID}`);
    assert.deepEqual(await uploads(), []);
    w2.stream.destroy();
  });

  it('keeps every key inside <prefix>/<project>/<backup id>/<file>', () => {
    const d = dest();
    assert.equal(d.objectKey(`shop/${ID}/manifest.json`), `site-a/backups/shop/${ID}/manifest.json`);
    for (const bad of ['../shop', `shop/../x/${ID}`, `shop/${ID}/../../other`, `shop/not-an-id/f`, `Shop/${ID}`, '']) {
      assert.throws(() => d.objectKey(bad), /invalid backup key/, bad);
    }
  });

  it('refuses destinations that carry credentials, an endpoint, a query or odd prefixes, by name', () => {
    const cases: [string, RegExp][] = [
      ['s3://AKIA:secret@bucket/x', /credentials never go in the destination/],
      ['s3://bucket:9000/x', /AWS_ENDPOINT_URL_S3/],
      ['s3://bucket/x?versionId=1', /query/],
      ['s3://Bucket/x', /not an S3 bucket name/],
      ['s3://bucket/a/../b', /segment "\.\."/],
      ['s3://bucket/a//b', /segment ""/],
    ];
    for (const [url, message] of cases) assert.throws(() => openDestination(url, '/unused', s3.env), message, url);
  });

  it('a wrong secret is a DestinationError naming the bucket (not retried)', async () => {
    const d = openDestination(`s3://${s3.bucket}/x`, '/unused', { ...s3.env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    await assert.rejects(d.list('shop'), (err: Error) => err.constructor.name === 'DestinationError' && /S3 bucket s3:\/\/s3dest-bucket\/x/.test(err.message));
  });

  it('a bucket that does not exist is a DestinationError naming it', async () => {
    const d = openDestination('s3://no-such-bucket/x', '/unused', s3.env);
    assert.equal(await d.exists(`shop/${ID}/manifest.json`), false);
    await assert.rejects(d.list('shop'), (err: Error) => err.constructor.name === 'DestinationError' && /s3:\/\/no-such-bucket\/x: .*NoSuchBucket/.test(err.message));
  });

  it('the CLI refuses credentials in --dest and --keep with --keep-last, exit 2, before connecting anywhere', async () => {
    const env = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const leaked = await runCli(['backup', '-p', 'shop', '--dest', 's3://AKIAX:verysecret@bucket/x'], env, 60_000);
    assert.equal(leaked.code, 2, leaked.stderr);
    assert.match(leaked.stderr, /credentials never go in the destination/);
    const both = await runCli(['backup', '-p', 'shop', '--keep', '3', '--keep-last', '3'], env, 60_000);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /--keep is --keep-last: give one of them/);
  });

  it('the backend holds nothing outside the bucket', () => {
    assert.deepEqual(
      fs.readdirSync(s3.root).filter((n) => !n.startsWith('.')),
      [s3.bucket],
      `${path.basename(s3.root)} holds only the bucket`,
    );
  });
});
