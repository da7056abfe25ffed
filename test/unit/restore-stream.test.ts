/**
 * The tar a restore sends the Docker engine (src/backup/restore-stream.ts):
 * the archive's entries unchanged, then the marker entry only when the whole
 * archive passed its check; a failed check, a stream cut short or a damaged
 * tar never gets the marker. Checked with GNU tar, which reads the result.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveMismatch, markerEntry, tarGate } from '../../src/backup/restore-stream';
import { EXTRACTED_MARKER } from '../../src/backup/restore-swap';
import { TarDigest } from '../../src/backup/tar-digest';

function tarOf(files: Record<string, string | Buffer>): Buffer {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-gate-'));
  const dir = path.join(base, 'dockflow-volume');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return execFileSync('tar', ['-C', base, '--sort=name', '-cf', '-', 'dockflow-volume']);
}

/** The gate's output for `input` cut in `chunk`-byte pieces, and its error if it failed. */
async function through(input: Buffer, check: Parameters<typeof tarGate>[0]['check'], chunk = 1000): Promise<{ out: Buffer; error?: Error; checked: boolean }> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunk) pieces.push(input.subarray(at, at + chunk));
  const out: Buffer[] = [];
  const gate = tarGate({ check, marker: 'abc\n' });
  let error: Error | undefined;
  await pipeline(Readable.from(pieces), gate, new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) })).catch((err: Error) => (error = err));
  return { out: Buffer.concat(out), error, checked: gate.checked() };
}

describe('the restore stream: the archive tar, then the marker once checked', () => {
  const files = { 'a.txt': 'alpha\n', 'zeros.bin': Buffer.alloc(5000), 'sub/b.bin': 'b'.repeat(70_000) };
  const tar = tarOf(files);

  it('passes every entry through unchanged and ends with the marker, which tar extracts last', async () => {
    for (const chunk of [1, 511, 512, 4096, tar.length]) {
      let seenBytes = -1;
      const { out, error, checked } = await through(tar, (tree) => ((seenBytes = tree.bytes), undefined), chunk);
      assert.equal(error, undefined);
      assert.ok(checked);
      assert.equal(seenBytes, tar.length, 'the check sees the whole tar, end blocks included');
      const entriesEnd = out.length - markerEntry('abc\n').length - 1024;
      assert.deepEqual(out.subarray(0, entriesEnd), tar.subarray(0, entriesEnd), `chunk ${chunk}: entries unchanged`);
      assert.ok(tar.subarray(entriesEnd).every((b) => b === 0), 'only end-of-archive blocks were dropped');
      assert.deepEqual(out.subarray(entriesEnd, entriesEnd + 512 + 4).subarray(512), Buffer.from('abc\n'));
    }
    const { out } = await through(tar, () => undefined);
    assert.deepEqual(execFileSync('tar', ['-tf', '-'], { input: out }).toString().trim().split('\n').at(-1), EXTRACTED_MARKER);
    const into = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-gate-x-'));
    execFileSync('tar', ['-xf', '-', '-C', into], { input: out });
    assert.equal(fs.readFileSync(path.join(into, EXTRACTED_MARKER), 'utf8'), 'abc\n');
    assert.deepEqual(fs.readFileSync(path.join(into, 'dockflow-volume', 'zeros.bin')), Buffer.alloc(5000));
    // The marker is a well-formed entry (its header checksum is right): the digest reads it.
    const withMarker = new TarDigest();
    withMarker.write(out);
    const original = new TarDigest();
    original.write(tar);
    assert.equal(withMarker.end().entries, original.end().entries + 1);
  });

  it('a failed check sends no marker: the stream fails with the finding', async () => {
    const { out, error, checked } = await through(tar, () => 'sha256 x, expected y');
    assert.ok(error instanceof ArchiveMismatch);
    assert.equal(error.message, 'sha256 x, expected y');
    assert.equal(checked, false);
    assert.equal(out.indexOf(EXTRACTED_MARKER), -1);
  });

  it('a tar cut short (inside an entry, or at an entry\'s end without end blocks) or damaged sends no marker', async () => {
    const whole = new TarDigest();
    whole.write(tar);
    const entriesEnd = whole.safeBytes(); // where the end-of-archive blocks begin: right after the last entry
    assert.ok(entriesEnd > 70_000 && entriesEnd <= tar.length - 1024 && entriesEnd % 512 === 0);
    for (const cut of [tar.subarray(0, 3000), tar.subarray(0, entriesEnd)]) {
      const { out, error } = await through(cut, () => undefined);
      assert.match(String(error), /ends (inside an entry|without its end-of-archive blocks)/);
      assert.equal(out.indexOf(EXTRACTED_MARKER), -1);
    }
    const damaged = Buffer.from(tar);
    damaged[600] ^= 0xff;
    const { out, error } = await through(damaged, () => undefined);
    assert.match(String(error), /wrong checksum/);
    assert.equal(out.indexOf(EXTRACTED_MARKER), -1);
  });
});
