/**
 * Parallel gzip: whatever the chunking of the input and the order in which
 * blocks finish, the output is gzip members in input order that decompress
 * to exactly the input, also with standard streaming gunzip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { parallelGzip, type ParallelGzipOptions } from '../../src/backup/parallel-gzip';

async function compress(chunks: Buffer[], options: ParallelGzipOptions): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    parallelGzip(options),
    new Writable({
      write(chunk: Buffer, _e, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('parallelGzip', () => {
  const text = Buffer.from('GET /api/orders?id=12345 200 0.013s\n'.repeat(20_000));
  const random = randomBytes(300_000);
  const input = Buffer.concat([text, random, text]);
  // Uneven chunks, as a socket delivers them.
  const chunks: Buffer[] = [];
  for (let at = 0, size = 1; at < input.length; at += size, size = (size * 7 + 3) % 65_521 || 1) chunks.push(input.subarray(at, at + size));

  it('decompresses to exactly the input, one member per block, in order', async () => {
    const gz = await compress(chunks, { blockBytes: 100_000, concurrency: 3, storeIncompressible: false });
    assert.deepEqual(zlib.gunzipSync(gz), input);
    // zlib is deterministic, so the output must be exactly the blocks gzipped one by one, in order.
    const blocks: Buffer[] = [];
    for (let at = 0; at < input.length; at += 100_000) blocks.push(zlib.gzipSync(input.subarray(at, at + 100_000)));
    assert.equal(blocks.length, Math.ceil(input.length / 100_000));
    assert.deepEqual(gz, Buffer.concat(blocks));
  });

  it('is read as one stream by a streaming gunzip', async () => {
    const gz = await compress(chunks, { blockBytes: 64 * 1024, concurrency: 2 });
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([gz.subarray(0, 1000), gz.subarray(1000)]),
      zlib.createGunzip(),
      new Writable({
        write(chunk: Buffer, _e, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    assert.deepEqual(Buffer.concat(out), input);
  });

  it('turns an empty input into a valid empty gzip file', async () => {
    const gz = await compress([], {});
    assert.ok(gz.length > 0);
    assert.equal(zlib.gunzipSync(gz).length, 0);
  });

  it('compresses compressible data about as well as one gzip stream', async () => {
    const gz = await compress([text, text, text], { blockBytes: 256 * 1024 });
    const single = zlib.gzipSync(Buffer.concat([text, text, text]));
    assert.ok(gz.length < single.length * 1.5 + 200, `${gz.length} bytes against ${single.length}`);
  });

  it('stores blocks that do not compress, compresses the others, and still gives the input back', async () => {
    const blockBytes = 256 * 1024;
    const noise = randomBytes(blockBytes);
    const log = text.subarray(0, blockBytes);
    const gz = await compress([noise, log], { blockBytes, concurrency: 2 });
    assert.deepEqual(zlib.gunzipSync(gz), Buffer.concat([noise, log]));
    // The gzip header's XFL byte (offset 8) is 4 for the fastest levels (0 and 1) and 0 for level 6.
    const noiseOnly = await compress([noise], { blockBytes });
    const logOnly = await compress([log], { blockBytes });
    assert.equal(noiseOnly[8], 4, 'the random block is stored, not searched for matches at level 6');
    assert.equal(logOnly[8], 0, 'the text block is compressed at the default level');
    assert.ok(noiseOnly.length < blockBytes * 1.001, `a stored member costs only its framing (${noiseOnly.length} bytes for ${blockBytes})`);
    assert.ok(logOnly.length < blockBytes / 10, `text still compresses (${logOnly.length} bytes for ${blockBytes})`);
    assert.equal(gz.length, noiseOnly.length + logOnly.length);
  });

  it('fails the stream when a member does not decompress to its block, and counts the input it proved', async () => {
    const tampered = (block: Buffer, level: number) => {
      const wrong = Buffer.from(block);
      if (wrong.length > 10) wrong[10] ^= 1;
      return Promise.resolve(zlib.gzipSync(wrong, { level }));
    };
    await assert.rejects(compress([input], { blockBytes: 100_000, compressMember: tampered }), /gzip member 0 does not decompress to its 100000 bytes of input \(it gives 100000 bytes that differ\)/);
    const stream = parallelGzip({ blockBytes: 100_000 });
    await pipeline(Readable.from([input]), stream, new Writable({ write: (_c, _e, done) => done() }));
    assert.equal(stream.verifiedBytes(), input.length);
  });
});
