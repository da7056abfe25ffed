/**
 * The archive encryption checks of the backup activities that need no
 * Docker (verifyArchives on a local directory): a worker without the
 * archive's key, or requiring encryption, refuses before reading or
 * touching anything; an encrypted archive verifies by decrypting and
 * decompressing it; an altered one with a fixed-up checksum does not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type Docker from 'dockerode';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackupActivities } from '../../activities/backup';
import { encryptArchive } from '../../src/backup/archive-crypto';
import { parseKey, type EncryptionKey } from '../../src/temporal/codec';

const PROJECT = 'shop';
const ID = '20261122-030000-1a2b3c4d';
const FILE = 'volume-db.tar.gz';
const KEY = parseKey(randomBytes(32).toString('base64'), 'k');
const OTHER = parseKey(randomBytes(32).toString('base64'), 'o');

async function encrypted(plain: Buffer, key: EncryptionKey): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([plain]), encryptArchive(key, `${PROJECT}/${ID}/${FILE}`), new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) }));
  return Buffer.concat(out);
}

/** A destination directory holding one archive; the entry verifyArchives gets for it. */
async function setup(stored: Buffer, contentBytes: number, encryptedWith?: EncryptionKey) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-enc-'));
  fs.mkdirSync(path.join(root, PROJECT, ID), { recursive: true });
  fs.writeFileSync(path.join(root, PROJECT, ID, FILE), stored);
  const entry = {
    key: 'db',
    archive: FILE,
    sha256: createHash('sha256').update(stored).digest('hex'),
    archiveBytes: stored.length,
    contentBytes,
    ...(encryptedWith ? { encryption: { scheme: 'aes-256-gcm-chunked-v1' as const, keyId: encryptedWith.id } } : {}),
  };
  return { root, entry };
}

// verifyArchives never calls Docker: an empty object stands for the client.
const activities = (root: string, keys: EncryptionKey[], requireEncryption = false) =>
  createBackupActivities({ docker: {} as Docker, backupDir: root, archiveKeys: () => keys, requireEncryption });

describe('backup activities: encrypted archives', () => {
  const tar = randomBytes(300_000);
  const gz = zlib.gzipSync(tar);

  it('an encrypted archive verifies: checksum over the ciphertext, decrypted and decompressed to the recorded size', async () => {
    const { root, entry } = await setup(await encrypted(gz, KEY), tar.length, KEY);
    await activities(root, [OTHER, KEY]).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] });
  });

  it('an altered archive whose checksum was fixed up in the manifest fails to decrypt', async () => {
    const stored = await encrypted(gz, KEY);
    stored[stored.length - 40] ^= 1;
    const { root, entry } = await setup(stored, tar.length, KEY);
    await assert.rejects(activities(root, [KEY]).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry] }), /does not decompress .*it does not decrypt: frame 0 fails authentication/);
  });

  it('a worker without the archive\'s key refuses before reading it, naming the key', async () => {
    const { root, entry } = await setup(await encrypted(gz, KEY), tar.length, KEY);
    await assert.rejects(
      activities(root, [OTHER]).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry], checksumOnly: true }),
      new RegExp(`encrypted with key ${KEY.id}, which is not among this worker's keys \\(${OTHER.id}\\)`),
    );
    await assert.rejects(activities(root, []).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry], checksumOnly: true }), /this worker has no encryption key/);
  });

  it('DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION: a plain archive (a forged replacement of an encrypted one) is refused', async () => {
    const { root, entry } = await setup(gz, tar.length);
    await activities(root, [KEY]).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry], checksumOnly: true });
    await assert.rejects(
      activities(root, [KEY], true).verifyArchives({ project: PROJECT, backupId: ID, archives: [entry], checksumOnly: true }),
      /is not encrypted, and this worker accepts only encrypted backups \(DOCKFLOW_BACKUP_REQUIRE_ENCRYPTION=1\)/,
    );
  });
});
