/**
 * The local directory destination: content is invisible under its key until
 * committed, aborted writes leave nothing, earlier writers' partial files can
 * be swept, and destinations other than a local directory are refused with a
 * message naming them.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { DestinationError, LocalDirectoryDestination } from '../../src/backup/destination';
import { openDestination } from '../../src/backup/open-destination';

// Keys are <project>/<backup id>/<file>: the destination refuses other layouts.
const [B1, B2, B3] = ['20261122-030000-00000001', '20261122-030000-00000002', '20261122-030000-00000003'];

describe('local directory destination', () => {
  let root: string;
  let dest: LocalDirectoryDestination;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-dest-'));
    dest = new LocalDirectoryDestination(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('shows a file under its key only once committed, and streams it back', async () => {
    const pending = await dest.openWrite(`shop/${B1}/volume-db.tar.gz`, 'wf-1-a1');
    await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), pending.stream);
    assert.equal(await dest.exists(`shop/${B1}/volume-db.tar.gz`), false, 'not visible before commit');
    assert.deepEqual(fs.readdirSync(path.join(root, 'shop', B1)), ['volume-db.tar.gz.partial-wf-1-a1']);
    await pending.commit();
    assert.equal(await dest.exists(`shop/${B1}/volume-db.tar.gz`), true);
    assert.deepEqual(fs.readdirSync(path.join(root, 'shop', B1)), ['volume-db.tar.gz'], 'no partial file left');
    const chunks: Buffer[] = [];
    for await (const c of await dest.openRead(`shop/${B1}/volume-db.tar.gz`)) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
  });

  it('leaves nothing after an abort, and sweeps partial files of earlier attempts', async () => {
    const aborted = await dest.openWrite(`shop/${B1}/a.tar.gz`, 'wf-1-a1');
    aborted.stream.write('half');
    await aborted.abort();
    assert.deepEqual(fs.readdirSync(path.join(root, 'shop', B1)), []);
    fs.writeFileSync(path.join(root, 'shop', B1, 'a.tar.gz.partial-wf-1-a1'), 'left by a killed worker');
    fs.writeFileSync(path.join(root, 'shop', B1, 'a.tar.gz.partial-wf-2-a1'), 'another workflow');
    await dest.discardPending(`shop/${B1}/a.tar.gz`, 'wf-1');
    assert.deepEqual(fs.readdirSync(path.join(root, 'shop', B1)), ['a.tar.gz.partial-wf-2-a1']);
  });

  it('writes text atomically, lists, and removes whole prefixes', async () => {
    await dest.writeText(`shop/${B2}/manifest.json`, '{"a":1}\n', 'wf');
    await dest.writeText(`shop/${B1}/manifest.json`, '{}\n', 'wf');
    assert.equal(await dest.readText(`shop/${B2}/manifest.json`), '{"a":1}\n');
    assert.equal(await dest.readText(`shop/${B3}/manifest.json`), undefined);
    assert.deepEqual(await dest.list('shop'), [B1, B2]);
    assert.deepEqual(await dest.list('nothing-here'), []);
    await dest.remove(`shop/${B1}`);
    await dest.remove(`shop/${B1}`); // twice is fine
    assert.deepEqual(await dest.list('shop'), [B2]);
  });

  it('refuses keys that would leave its directory', async () => {
    await assert.rejects(() => dest.exists('shop/../../etc/passwd'), DestinationError);
  });
});

describe('choosing a destination', () => {
  it('uses the default directory, an absolute path, a file:// URL or s3://bucket/prefix, and refuses the rest by name', () => {
    assert.equal(openDestination(undefined, '/var/lib/dockflow/backups').description, 'local directory /var/lib/dockflow/backups');
    assert.equal(openDestination('/srv/backups', '/x').description, 'local directory /srv/backups');
    assert.equal(openDestination('file:///srv/my%20backups', '/x').description, 'local directory /srv/my backups');
    assert.equal(openDestination('s3://bucket/site-a/', '/x', { AWS_REGION: 'eu-west-1' }).description, 'S3 bucket s3://bucket/site-a');
    assert.throws(() => openDestination('ftp://host/shop', '/x'), /backup destination ftp:\/\/host\/shop: the supported destinations are a local directory .* and s3:\/\/bucket\/prefix/);
    assert.throws(() => openDestination('backups', '/x'), /backup destination backups must be an absolute directory path/);
  });
});
