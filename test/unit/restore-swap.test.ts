/**
 * The restore's swap script (src/backup/restore-swap.ts), run with the
 * host's /bin/sh on a temporary directory standing for a data set, from
 * every state a crash can leave: whatever step was cut short, the next
 * attempt or the settle step ends with exactly the old tree or exactly the
 * restored one. And the tree digest a restore compares (src/backup/tar-digest.ts),
 * on tars GNU tar writes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXTRACTED_MARKER, NOT_EXTRACTED_EXIT, RESTORE_SCRIPT, keptAsideDirName, restoreIdFor, stagingDirName } from '../../src/backup/restore-swap';
import { TarDigest, TarFormatError } from '../../src/backup/tar-digest';
import { hostTree } from '../support/host-tree';

const ID = restoreIdFor('restore-shop-1');
const READY = `.dockflow-restore-ready-${ID}`;
const PART = `.dockflow-restore-oldpart-${ID}`;

function step(root: string, name: string): { status: number | null; out: string; err: string } {
  const r = spawnSync('/bin/sh', ['-c', RESTORE_SCRIPT, 'dockflow-restore', name], { env: { PATH: process.env.PATH, DOCKFLOW_RESTORE_ID: ID, DOCKFLOW_RESTORE_ROOT: root }, encoding: 'utf8' });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
}

const OLD = { 'a.txt': 'old a\n', '.hidden': 'old dot\n', '..odd': 'two dots\n', 'sub/deep.txt': 'old deep\n', 'old-only': 'x' };
const NEW = { 'a.txt': 'new a\n', '.hidden': 'new dot\n', 'sub/deep.txt': 'new deep\n', 'new-only/f': 'y' };

/** A data set holding OLD, and the expected trees of OLD and NEW. */
function dataSet(): { root: string; oldTree: Record<string, string>; newTree: Record<string, string> } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-swap-'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-swap-new-'));
  write(scratch, NEW);
  fs.symlinkSync('a.txt', path.join(scratch, 'link'));
  const newTree = hostTree(scratch);
  fs.rmSync(scratch, { recursive: true });
  write(root, OLD);
  fs.symlinkSync('a.txt', path.join(root, 'old-link'));
  return { root, oldTree: hostTree(root), newTree };
}

/** What step 2 (the Docker API extraction) does: the archive's tree under <staging>/dockflow-volume, then the marker (unless cut short before it). */
function extract(root: string, files = NEW, whole = true): void {
  const into = path.join(root, stagingDirName(ID), 'dockflow-volume');
  fs.mkdirSync(into, { recursive: true });
  write(into, files);
  fs.symlinkSync('a.txt', path.join(into, 'link'));
  if (whole) fs.writeFileSync(path.join(root, stagingDirName(ID), EXTRACTED_MARKER), 'sha256\n');
}

describe('the restore swap script', () => {
  it('a whole run: begin, extract, commit leaves exactly the restored tree, nothing else', () => {
    const { root, newTree } = dataSet();
    assert.deepEqual(step(root, 'begin'), { status: 0, out: 'staged', err: '' });
    extract(root);
    assert.deepEqual(step(root, 'commit'), { status: 0, out: 'finished', err: '' });
    assert.deepEqual(hostTree(root), newTree);
  });

  it('commit refuses a staging copy without the marker (an extraction that did not reach the end): nothing changes, a retry starts over', () => {
    const { root, oldTree, newTree } = dataSet();
    step(root, 'begin');
    extract(root, NEW, false);
    const refused = step(root, 'commit');
    assert.equal(refused.status, NOT_EXTRACTED_EXIT);
    assert.match(refused.err, new RegExp(`has no ${EXTRACTED_MARKER}: it is not whole, not committed`));
    assert.ok(fs.existsSync(path.join(root, stagingDirName(ID))), 'still staging, not the commit point');
    assert.ok(!fs.existsSync(path.join(root, READY)));
    assert.deepEqual(step(root, 'finish').out, 'discarded');
    assert.deepEqual(hostTree(root), oldTree);
    // The retry: a whole extraction commits.
    step(root, 'begin');
    extract(root);
    assert.deepEqual(step(root, 'commit'), { status: 0, out: 'finished', err: '' });
    assert.deepEqual(hostTree(root), newTree);
  });

  it('cut short before the commit point (partial extraction): settle discards it, the old tree is untouched', () => {
    const { root, oldTree } = dataSet();
    step(root, 'begin');
    write(path.join(root, stagingDirName(ID), 'dockflow-volume'), { 'a.txt': 'new a\n' });
    assert.deepEqual(step(root, 'finish'), { status: 0, out: 'discarded', err: '' });
    assert.deepEqual(hostTree(root), oldTree);
  });

  it('a retry after a partial extraction starts the staging over', () => {
    const { root, newTree } = dataSet();
    step(root, 'begin');
    write(path.join(root, stagingDirName(ID), 'dockflow-volume'), { 'half-written': 'junk' });
    assert.equal(step(root, 'begin').out, 'staged');
    assert.deepEqual(fs.readdirSync(path.join(root, stagingDirName(ID))), [], 'the earlier partial copy is gone');
    extract(root);
    step(root, 'commit');
    assert.deepEqual(hostTree(root), newTree);
  });

  it('cut short after the commit point, in the middle of moving the old tree aside: the next attempt finishes forward', () => {
    const { root, newTree } = dataSet();
    step(root, 'begin');
    extract(root);
    fs.renameSync(path.join(root, stagingDirName(ID)), path.join(root, READY));
    // Half of the old entries moved aside when the crash came.
    fs.mkdirSync(path.join(root, PART));
    fs.renameSync(path.join(root, 'a.txt'), path.join(root, PART, 'a.txt'));
    fs.renameSync(path.join(root, 'sub'), path.join(root, PART, 'sub'));
    assert.equal(step(root, 'begin').out, 'committed', 'a retry sees the committed copy');
    assert.deepEqual(step(root, 'finish'), { status: 0, out: 'finished', err: '' });
    assert.deepEqual(hostTree(root), newTree);
  });

  it('cut short in the middle of moving the restored tree in: settle finishes it', () => {
    const { root, newTree } = dataSet();
    step(root, 'begin');
    extract(root);
    fs.renameSync(path.join(root, stagingDirName(ID)), path.join(root, READY));
    const old = path.join(root, keptAsideDirName(ID));
    fs.mkdirSync(old);
    for (const e of fs.readdirSync(root)) if (!e.startsWith('.dockflow-restore-')) fs.renameSync(path.join(root, e), path.join(old, e));
    fs.renameSync(path.join(root, READY, 'dockflow-volume', 'a.txt'), path.join(root, 'a.txt'));
    assert.deepEqual(step(root, 'finish'), { status: 0, out: 'finished', err: '' });
    assert.deepEqual(hostTree(root), newTree);
  });

  it('cut short while deleting the kept-aside copy: a retry removes it and restores again cleanly', () => {
    const { root, newTree } = dataSet();
    step(root, 'begin');
    extract(root);
    step(root, 'commit');
    write(path.join(root, keptAsideDirName(ID)), { 'left-over': 'old' });
    assert.equal(step(root, 'begin').out, 'staged');
    extract(root);
    step(root, 'commit');
    assert.deepEqual(hostTree(root), newTree);
  });

  it('a later restore (another workflow) first finishes what an earlier one left half-way, then restores cleanly', () => {
    const { root, newTree } = dataSet();
    const other = restoreIdFor('restore-shop-0');
    // The earlier restore committed and had moved part of the old tree aside when it stopped for good.
    write(path.join(root, `.dockflow-restore-ready-${other}`, 'dockflow-volume'), { 'earlier.txt': 'earlier restore\n' });
    fs.mkdirSync(path.join(root, `.dockflow-restore-oldpart-${other}`));
    fs.renameSync(path.join(root, 'a.txt'), path.join(root, `.dockflow-restore-oldpart-${other}`, 'a.txt'));
    write(path.join(root, `.dockflow-restore-new-${restoreIdFor('restore-shop-00')}`), { junk: 'an abandoned staging copy' });
    assert.equal(step(root, 'begin').out, 'staged');
    assert.deepEqual(fs.readdirSync(root).filter((e) => e.startsWith('.dockflow-restore-')), [stagingDirName(ID)], 'only our staging directory is left');
    assert.equal(fs.readFileSync(path.join(root, 'earlier.txt'), 'utf8'), 'earlier restore\n', 'the earlier committed restore was finished forward');
    extract(root);
    step(root, 'commit');
    assert.deepEqual(hostTree(root), newTree);
  });

  it('refuses a restore ID that is not hex (the only input the script takes)', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-swap-'));
    const r = spawnSync('/bin/sh', ['-c', RESTORE_SCRIPT, 'dockflow-restore', 'begin'], { env: { PATH: process.env.PATH, DOCKFLOW_RESTORE_ID: '../x', DOCKFLOW_RESTORE_ROOT: root }, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.deepEqual(fs.readdirSync(root), []);
  });
});

describe('the tree digest of a tar stream', () => {
  function tarOf(dir: string, extra: string[] = []): Buffer {
    return execFileSync('tar', ['-C', path.dirname(dir), '--sort=name', ...extra, '-cf', '-', path.basename(dir)]);
  }
  function digest(buffer: Buffer, chunk = 777) {
    const d = new TarDigest();
    for (let i = 0; i < buffer.length; i += chunk) d.write(buffer.subarray(i, i + chunk));
    return d.end();
  }

  it('is the same for the same tree, whatever the times, the format or the chunking; differs when one byte differs', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-digest-'));
    const dir = path.join(base, 'dockflow-volume');
    write(dir, { 'a.txt': 'alpha\n', [`${'long-name-'.repeat(12)}.txt`]: 'long\n', 'sub/b.bin': 'b'.repeat(70_000) });
    fs.symlinkSync('a.txt', path.join(dir, 'link'));
    const first = digest(tarOf(dir, ['--format=gnu']));
    assert.equal(first.entries, 6);
    fs.utimesSync(path.join(dir, 'a.txt'), new Date(0), new Date(0));
    assert.equal(digest(tarOf(dir, ['--format=posix']), 4096).digest, first.digest, 'PAX and GNU long names, other times, other chunks');
    fs.writeFileSync(path.join(dir, 'sub/b.bin'), `${'b'.repeat(69_999)}c`);
    assert.notEqual(digest(tarOf(dir)).digest, first.digest);
    fs.chmodSync(path.join(dir, 'a.txt'), 0o600);
    const chmodded = digest(tarOf(dir)).digest;
    fs.chmodSync(path.join(dir, 'a.txt'), 0o644);
    assert.notEqual(chmodded, digest(tarOf(dir)).digest, 'modes count');
  });

  it('refuses a stream cut short or with a damaged header', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-digest-'));
    const dir = path.join(base, 'dockflow-volume');
    write(dir, { 'a.txt': 'a'.repeat(5000) });
    const whole = tarOf(dir);
    assert.throws(() => digest(whole.subarray(0, 2048)), TarFormatError);
    assert.throws(() => digest(whole.subarray(0, 1024)), /ends (inside an entry|without its end-of-archive blocks)/);
    const damaged = Buffer.from(whole);
    damaged[600] ^= 0xff; // inside the second header's name
    assert.throws(() => digest(damaged), /wrong checksum/);
  });
});
