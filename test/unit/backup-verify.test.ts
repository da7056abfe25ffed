/**
 * verifyArchives on a local directory (no Docker): an archive this worker
 * proved to decompress while writing it (RoundTripRegistry) is verified by
 * its sha256 and size alone; every other archive is still decompressed; and
 * an archive altered after it was written is refused either way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type Docker from 'dockerode';
import { RoundTripRegistry, createBackupActivities } from '../../activities/backup';

const PROJECT = 'shop';
const ID = '20261122-030000-1a2b3c4d';
const FILE = 'volume-db.tar.gz';

function setup(stored: Buffer, contentBytes: number) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-verify-'));
  fs.mkdirSync(path.join(root, PROJECT, ID), { recursive: true });
  fs.writeFileSync(path.join(root, PROJECT, ID, FILE), stored);
  const entry = { key: 'db', archive: FILE, sha256: createHash('sha256').update(stored).digest('hex'), archiveBytes: stored.length, contentBytes };
  return { root, entry, file: path.join(root, PROJECT, ID, FILE) };
}

// verifyArchives never calls Docker: an empty object stands for the client.
const activities = (root: string, roundTrips = new RoundTripRegistry()) => createBackupActivities({ docker: {} as Docker, backupDir: root, archiveKeys: () => [], requireEncryption: false, roundTrips });

describe('verifyArchives and archives proven while written', () => {
  const tar = randomBytes(200_000);
  const gz = zlib.gzipSync(tar);

  it('the registry proves an archive only for its exact sha256, size and tar size, and keeps the newest 256', () => {
    const r = new RoundTripRegistry();
    r.remember('a'.repeat(64), 10, 100);
    assert.equal(r.proves({ sha256: 'a'.repeat(64), archiveBytes: 10, contentBytes: 100 }), true);
    assert.equal(r.proves({ sha256: 'a'.repeat(64), archiveBytes: 10, contentBytes: 101 }), false);
    assert.equal(r.proves({ sha256: 'a'.repeat(64), archiveBytes: 11, contentBytes: 100 }), false);
    assert.equal(r.proves({ sha256: 'b'.repeat(64), archiveBytes: 10, contentBytes: 100 }), false);
    for (let i = 0; i < 256; i++) r.remember(i.toString(16).padStart(64, '0'), 1, 1);
    assert.equal(r.proves({ sha256: 'a'.repeat(64), archiveBytes: 10, contentBytes: 100 }), false, 'the oldest was forgotten');
    assert.equal(r.proves({ sha256: '0'.repeat(64), archiveBytes: 1, contentBytes: 1 }), true);
  });

  it('an archive not proven while written is decompressed: a wrong tar size is refused', async () => {
    const { root, entry } = setup(gz, tar.length + 1);
    await assert.rejects(activities(root).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] }), /does not decompress to the recorded 200001 bytes \(200000 bytes\)/);
    await activities(root).verifyArchives({ project: PROJECT, backupId: ID, archives: [{ ...entry, contentBytes: tar.length }] });
  });

  it('a proven archive is checked by sha256 and size without decompressing it', async () => {
    // The registry claims a tar size the file does not decompress to: only a verification that skips
    // decompression accepts it, which shows the proof made while writing is what was relied on.
    const { root, entry } = setup(gz, tar.length + 1);
    const proven = new RoundTripRegistry();
    proven.remember(entry.sha256, entry.archiveBytes, entry.contentBytes);
    await activities(root, proven).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] });
  });

  it('a proven archive altered in the destination after it was written is refused, naming what differs', async () => {
    const { root, entry, file } = setup(gz, tar.length);
    const proven = new RoundTripRegistry();
    proven.remember(entry.sha256, entry.archiveBytes, entry.contentBytes);
    const altered = Buffer.from(gz);
    altered[altered.length >> 1] ^= 1;
    fs.writeFileSync(file, altered);
    await assert.rejects(activities(root, proven).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] }), new RegExp(`does not match its record: sha256 [0-9a-f]{64} \\(${gz.length} bytes\\), expected ${entry.sha256}`));
    fs.writeFileSync(file, gz.subarray(0, gz.length - 1));
    await assert.rejects(activities(root, proven).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] }), /does not match its record/);
  });
});
