/**
 * The key `dockflow dev` creates for itself, and how CLI commands find it.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cliKeys, devKeyFile, ensureDevKey, loopbackPort, writeDevServerRecord } from '../../src/temporal/dev-key';
import { AesGcmCodec, dataConverterForKeys, ENCRYPTED_ENCODING } from '../../src/temporal/codec';

const created: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-devkey-'));
  created.push(dir);
  return dir;
};
after(() => created.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('dockflow dev encryption key', () => {
  it('is created once: 32 random bytes, file 0600 in a 0700 directory, reused on the next start', () => {
    const stateDir = path.join(tempDir(), '.dockflow');
    const first = ensureDevKey(stateDir);
    assert.equal(first.created, true);
    assert.equal(first.file, devKeyFile(stateDir));
    assert.equal(fs.statSync(first.file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(first.file)).mode & 0o777, 0o700);
    assert.equal(first.keys.length, 1);
    assert.equal(first.keys[0].key.length, 32);
    const second = ensureDevKey(stateDir);
    assert.equal(second.created, false);
    assert.deepEqual(second.keys, first.keys);
    assert.notDeepEqual(ensureDevKey(path.join(tempDir(), '.dockflow')).keys, first.keys, 'another state dir gets its own key');
  });

  it('refuses a key file other users can read', () => {
    const stateDir = tempDir();
    const { file } = ensureDevKey(stateDir);
    fs.chmodSync(file, 0o644);
    assert.throws(() => ensureDevKey(stateDir), new RegExp(`${file.replace(/[.]/g, '\\.')} can be read by other users \\(mode 0644\\); restrict it with: chmod 600`));
  });

  it('tightens its own key directory when it was left open', () => {
    const stateDir = tempDir();
    fs.mkdirSync(path.join(stateDir, 'keys'), { mode: 0o755 });
    fs.chmodSync(path.join(stateDir, 'keys'), 0o755);
    ensureDevKey(stateDir);
    assert.equal(fs.statSync(path.join(stateDir, 'keys')).mode & 0o777, 0o700);
  });
});

describe('CLI key lookup', () => {
  it('recognises loopback addresses and their port', () => {
    assert.equal(loopbackPort('localhost:7233'), 7233);
    assert.equal(loopbackPort('127.0.0.1:7244'), 7244);
    assert.equal(loopbackPort('[::1]:7233'), 7233);
    assert.equal(loopbackPort('temporal.example.org:7233'), undefined);
    assert.equal(loopbackPort('10.0.0.5:7233'), undefined);
  });

  it('uses the dev key of ./.dockflow for that dev server only, and a configured key always', () => {
    const cwd = tempDir();
    const stateDir = path.join(cwd, '.dockflow');
    assert.deepEqual(cliKeys('localhost:7233', {}, cwd), [], 'no dev server here: plain');
    const devKey = ensureDevKey(stateDir);
    writeDevServerRecord(stateDir, { port: 7233, keyFile: devKey.file });
    assert.deepEqual(cliKeys('localhost:7233', {}, cwd), devKey.keys);
    assert.deepEqual(cliKeys('127.0.0.1:7233', {}, cwd), devKey.keys);
    assert.deepEqual(cliKeys('127.0.0.1:40111', {}, cwd), [], 'another local server (a test bed) does not get it');
    assert.deepEqual(cliKeys('temporal.example.org:7233', {}, cwd), [], 'a remote cluster never gets it');
    const configured = randomBytes(32).toString('base64');
    const keys = cliKeys('temporal.example.org:7233', { DOCKFLOW_ENCRYPTION_KEY: configured }, cwd);
    assert.deepEqual(keys[0].key, Buffer.from(configured, 'base64'));
    writeDevServerRecord(stateDir, { port: 7233 });
    assert.deepEqual(cliKeys('localhost:7233', {}, cwd), [], 'a dev server started with --insecure-plain-payloads: plain');
    fs.writeFileSync(path.join(stateDir, 'dev-server.json'), '{"port": 72');
    assert.throws(() => cliKeys('localhost:7233', {}, cwd), /dev-server\.json cannot be read .*; delete it/);
  });
});

describe('decode-only codec (--insecure-plain-payloads)', () => {
  it('writes plain payloads and still reads encrypted ones', async () => {
    const { keys } = ensureDevKey(tempDir());
    const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"API_KEY":"s3cret"}') };
    const [encrypted] = await new AesGcmCodec(keys).encode([plain]);
    assert.equal(Buffer.from(encrypted.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
    const decodeOnly = new AesGcmCodec(keys, { encrypt: false });
    assert.deepEqual(await decodeOnly.encode([plain]), [plain]);
    const [decoded] = await decodeOnly.decode([encrypted]);
    assert.equal(Buffer.from(decoded.data!).toString(), '{"API_KEY":"s3cret"}');
    assert.equal(dataConverterForKeys(keys, { encrypt: false })?.failureConverterPath, undefined, 'failures stay readable when payloads are plain');
    assert.ok(dataConverterForKeys(keys)?.failureConverterPath, 'encrypted: failures are moved into encrypted payloads');
    assert.equal(dataConverterForKeys([]), undefined);
  });
});
