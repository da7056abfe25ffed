/**
 * Secrets at rest: files written 0600 in 0700 directories, whatever the
 * umask, and directories an older version created wider are narrowed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensurePrivateDir, writePrivateFile } from '../../src/files/private';
import { LocalDirectoryDestination } from '../../src/backup/destination';

const mode = (p: string) => fs.statSync(p).mode & 0o777;

function withUmask<T>(mask: number, fn: () => T): T {
  const previous = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(previous);
  }
}

describe('private files', () => {
  it('creates and narrows directories to 0700 and writes files 0600 atomically, even with umask 0', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-private-'));
    fs.chmodSync(base, 0o751);
    // An older version left a world-readable directory.
    fs.mkdirSync(path.join(base, 'projects'), { mode: 0o755 });
    fs.chmodSync(path.join(base, 'projects'), 0o755);
    const dir = withUmask(0, () => ensurePrivateDir(path.join(base, 'projects', 'shop', 'revisions'), base));
    assert.equal(mode(path.join(base, 'projects')), 0o700);
    assert.equal(mode(path.join(base, 'projects', 'shop')), 0o700);
    assert.equal(mode(dir), 0o700);
    // The base is the operator's: left as it is.
    assert.equal(mode(base), 0o751);
    const file = path.join(dir, '000001.json');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    withUmask(0, () => writePrivateFile(file, '{"secret": 1}\n'));
    assert.equal(mode(file), 0o600);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"secret": 1}\n');
    assert.deepEqual(fs.readdirSync(dir), ['000001.json'], 'no temporary file left');
    assert.throws(() => ensurePrivateDir('/etc', base), /is not inside/);
  });

  it('creates a missing base directory 0700', () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-private-'));
    const base = path.join(parent, 'state');
    withUmask(0, () => ensurePrivateDir(path.join(base, 'projects'), base));
    assert.equal(mode(base), 0o700);
  });

  it('writes backup manifests and archives 0600 in 0700 directories under the destination', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-private-dest-'));
    fs.chmodSync(root, 0o755);
    const dest = new LocalDirectoryDestination(root);
    await withUmask(0, () => dest.writeText('shop/20261122-030000-1a2b3c4d/manifest.json', '{"env": "secret"}\n', 'wf-1'));
    assert.equal(mode(path.join(root, 'shop')), 0o700);
    assert.equal(mode(path.join(root, 'shop', '20261122-030000-1a2b3c4d')), 0o700);
    assert.equal(mode(path.join(root, 'shop', '20261122-030000-1a2b3c4d', 'manifest.json')), 0o600);
    assert.equal(mode(root), 0o755, 'a destination directory the operator chose keeps its mode');
  });
});
