/**
 * Archive encryption (src/backup/archive-crypto.ts): round trips of every
 * size around the chunk boundary, and refusal of every way to alter a
 * stored archive (a flipped byte, a cut, bytes appended, frames swapped, a
 * last-frame bit moved, an archive moved to another place, another key).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveDecryptError, HEADER_BYTES, archiveKeyId, decryptArchive, encryptArchive } from '../../src/backup/archive-crypto';
import { parseKey } from '../../src/temporal/codec';

const KEY = parseKey(randomBytes(32).toString('base64'), 'test');
const OTHER = parseKey(randomBytes(32).toString('base64'), 'other');
const PLACE = 'shop/20261122-030000-1a2b3c4d/volume-db.tar.gz';
const CHUNK = 1000;

async function through(input: Buffer, transform: NodeJS.ReadWriteStream, pieces = 7): Promise<Buffer> {
  const out: Buffer[] = [];
  // Uneven pieces, so frames straddle the writes.
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const n = Math.max(1, Math.floor(input.length / pieces) + (i % 3) * 37);
    parts.push(input.subarray(at, at + n));
    at += n;
  }
  await pipeline(
    Readable.from(parts),
    transform,
    new Writable({
      write(c: Buffer, _e, done) {
        out.push(c);
        done();
      },
    }),
  );
  return Buffer.concat(out);
}

const encrypt = (plain: Buffer, key = KEY, place = PLACE) => through(plain, encryptArchive(key, place, CHUNK));
const decrypt = (stored: Buffer, keys = [KEY], place = PLACE) => through(stored, decryptArchive(keys, place), 5);

/** Frame boundaries of a stored archive: [start, end) of each frame. */
function frames(stored: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let at = HEADER_BYTES;
  while (at < stored.length) {
    const length = stored.readUInt32BE(at) & 0x7fffffff;
    out.push([at, at + 4 + length + 16]);
    at += 4 + length + 16;
  }
  return out;
}

describe('archive encryption', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 17]) {
    it(`round trip of ${size} bytes`, async () => {
      const plain = randomBytes(size);
      const stored = await encrypt(plain);
      assert.equal(archiveKeyId(stored), KEY.id);
      if (size >= 16) assert.ok(!stored.includes(plain.subarray(0, 16)), 'no plaintext stored');
      assert.deepEqual(await decrypt(stored), plain);
    });
  }

  it('two encryptions of the same data differ (a fresh salt, so fresh keys and nonces)', async () => {
    const plain = randomBytes(3000);
    assert.notDeepEqual(await encrypt(plain), await encrypt(plain));
  });

  it('decrypts with any listed key (rotation): the header names the key', async () => {
    const plain = randomBytes(2500);
    assert.deepEqual(await decrypt(await encrypt(plain, OTHER), [KEY, OTHER]), plain);
  });

  const refusals: { name: string; alter: (s: Buffer) => Buffer; keys?: typeof KEY[]; place?: string; message: RegExp }[] = [
    { name: 'a flipped ciphertext byte', alter: (s) => flip(s, frames(s)[1][0] + 10), message: /frame 1 fails authentication/ },
    { name: 'a flipped tag byte', alter: (s) => flip(s, frames(s)[0][1] - 1), message: /frame 0 fails authentication/ },
    { name: 'a flipped salt byte', alter: (s) => flip(s, 25), message: /frame 0 fails authentication/ },
    { name: 'the last frame cut off', alter: (s) => s.subarray(0, frames(s).at(-1)![0]), message: /without its last frame \(cut short\)/ },
    { name: 'half a frame cut off', alter: (s) => s.subarray(0, s.length - 20), message: /cut short/ },
    { name: 'bytes appended', alter: (s) => Buffer.concat([s, Buffer.from('extra')]), message: /bytes follow its last frame/ },
    {
      name: 'two frames swapped',
      alter: (s) => {
        const [a, b] = frames(s);
        return Buffer.concat([s.subarray(0, a[0]), s.subarray(b[0], b[1]), s.subarray(a[0], a[1]), s.subarray(b[1])]);
      },
      message: /frame 0 fails authentication/,
    },
    {
      name: 'the last-frame bit set early (a truncation made to look whole)',
      alter: (s) => {
        const [first] = frames(s);
        const cut = Buffer.from(s.subarray(0, first[1]));
        cut.writeUInt32BE((cut.readUInt32BE(first[0]) | 0x80000000) >>> 0, first[0]);
        return cut;
      },
      message: /frame 0 fails authentication/,
    },
    { name: 'an archive moved to another backup', alter: (s) => s, place: 'shop/20261123-030000-1a2b3c4d/volume-db.tar.gz', message: /frame 0 fails authentication .*not written for shop\/20261123/ },
    { name: 'another worker\'s key', alter: (s) => s, keys: [OTHER], message: new RegExp(`encrypted with key ${KEY.id}, which is not among this worker's keys \\(${OTHER.id}\\)`) },
    { name: 'a plain gzip archive', alter: () => Buffer.from('1f8b0800000000000003030000000000000000', 'hex'), message: /not an encrypted dockflow archive/ },
    { name: 'a header with a huge chunk size', alter: (s) => { const c = Buffer.from(s); c.writeUInt32BE(0x7fffffff, HEADER_BYTES - 4); return c; }, message: /chunk size of 2147483647 bytes/ },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}`, async () => {
      const stored = await encrypt(randomBytes(4 * CHUNK + 500));
      await assert.rejects(decrypt(r.alter(stored), r.keys, r.place), (err: Error) => err instanceof ArchiveDecryptError && r.message.test(err.message));
    });
  }
});

function flip(s: Buffer, at: number): Buffer {
  const c = Buffer.from(s);
  c[at] ^= 0x01;
  return c;
}
