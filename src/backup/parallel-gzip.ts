/**
 * gzip on every core: the stream is cut into blocks that are compressed side
 * by side on libuv's thread pool and written in their original order, each
 * block a complete gzip member. RFC 1952 lets a file hold several members one
 * after another; gunzip, GNU and busybox tar, Node's zlib and the Docker
 * engine's archive upload all read them as one stream. One zlib stream is
 * bound to one core, which made a backup's compression the slowest step
 * (bench/backup-phases.ts).
 *
 * Two things make it cheaper than gzip of the whole stream, without giving
 * up anything a restore relies on:
 *
 * - A block that does not compress (random bytes, media, data already
 *   compressed) is stored (deflate level 0: its bytes in stored blocks, a
 *   few bytes of framing per 64 KiB) instead of searched for matches that
 *   are not there, which made level 6 crawl through such data at a tenth of
 *   its speed on text. Whether a block compresses is judged from samples
 *   spread over it, deflated at level 1: a block all of whose samples stay
 *   at 97 % or more of their size is stored. A compressible part that falls
 *   between the samples is stored too: the file grows by at most that part,
 *   it stays correct.
 * - With `verify` (the default), every member is decompressed again on the
 *   thread pool and compared byte for byte with its block before it is
 *   written: the stream fails on the first member that does not give its
 *   block back. A complete output is thus proven to decompress to exactly
 *   the input, as a second pass over the finished file would prove, but on
 *   every core, while the input still arrives.
 *
 * Memory stays bounded: at most `concurrency` blocks are being compressed
 * and one is being filled; input waits while the oldest block compresses.
 */
import { availableParallelism } from 'node:os';
import { Transform } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const deflateRaw = promisify(zlib.deflateRaw);

export interface ParallelGzipOptions {
  /** Uncompressed bytes per gzip member. Large enough that the per-member header (about 20 bytes) and the fresh dictionary cost nothing measurable. */
  blockBytes?: number;
  /** Blocks compressed at once. */
  concurrency?: number;
  /** Level for blocks that compress. */
  level?: number;
  /** Store blocks whose samples do not compress (default true). */
  storeIncompressible?: boolean;
  /** Decompress every member and compare it with its block before writing it (default true). */
  verify?: boolean;
  /** The member compressor; tests replace it to prove `verify` catches a wrong member. */
  compressMember?: (block: Buffer, level: number) => Promise<Buffer>;
}

/** A parallel gzip stream; `verifiedBytes()` is the input the written members were proven to decompress to. */
export type ParallelGzip = Transform & { verifiedBytes(): number };

/** Samples per block and their size: 64 KiB of a 4 MiB block, deflated at level 1 to tell whether the block compresses. */
const SAMPLES = 8;
const SAMPLE_BYTES = 8 * 1024;
/** A sample that deflates to this share of its size or more does not compress. */
const INCOMPRESSIBLE_RATIO = 0.97;

/** Whether a block compresses, judged from samples spread evenly over it. */
export async function compresses(block: Buffer): Promise<boolean> {
  if (block.length <= SAMPLES * SAMPLE_BYTES) {
    const out = await deflateRaw(block, { level: 1 });
    return out.length < block.length * INCOMPRESSIBLE_RATIO;
  }
  const stride = Math.floor((block.length - SAMPLE_BYTES) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) {
    const sample = block.subarray(i * stride, i * stride + SAMPLE_BYTES);
    const out = await deflateRaw(sample, { level: 1 });
    if (out.length < sample.length * INCOMPRESSIBLE_RATIO) return true;
  }
  return false;
}

export function parallelGzip(options: ParallelGzipOptions = {}): ParallelGzip {
  const blockBytes = options.blockBytes ?? 4 * 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? availableParallelism());
  const level = options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
  const storeIncompressible = options.storeIncompressible ?? true;
  const verify = options.verify ?? true;
  // 64 KiB output chunks: with the default 16 KiB, a stored member is cut into more stored blocks (twice the framing).
  const compressMember = options.compressMember ?? ((block: Buffer, lvl: number) => gzip(block, { level: lvl, chunkSize: 64 * 1024 }));
  let filling: Buffer[] = [];
  let fillingBytes = 0;
  let membersStarted = 0;
  let verifiedBytes = 0;
  const compressing: Promise<Buffer>[] = [];

  const member = async (block: Buffer, index: number): Promise<Buffer> => {
    const lvl = storeIncompressible && block.length > 0 && !(await compresses(block)) ? 0 : level;
    const out = await compressMember(block, lvl);
    if (verify) {
      const back = await gunzip(out);
      if (!back.equals(block)) {
        throw new Error(`gzip member ${index} does not decompress to its ${block.length} bytes of input (it gives ${back.length} bytes${back.length === block.length ? ' that differ' : ''})`);
      }
    }
    return out;
  };

  const startMember = (block: Buffer) => {
    const pending = member(block, membersStarted).then((out) => {
      verifiedBytes += verify ? block.length : 0;
      return out;
    });
    // Awaited in order later; without this a failure would count as unhandled until then.
    pending.catch(() => undefined);
    compressing.push(pending);
    membersStarted += 1;
  };

  const stream = new Transform({
    async transform(chunk: Buffer, _encoding, done) {
      try {
        filling.push(chunk);
        fillingBytes += chunk.length;
        while (fillingBytes >= blockBytes) {
          const all = Buffer.concat(filling, fillingBytes);
          startMember(all.subarray(0, blockBytes));
          const rest = all.subarray(blockBytes);
          filling = rest.length > 0 ? [rest] : [];
          fillingBytes = rest.length;
          if (compressing.length >= concurrency) this.push(await compressing.shift()!);
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    async flush(done) {
      try {
        // An empty input still becomes a valid (empty) gzip file.
        if (fillingBytes > 0 || membersStarted === 0) startMember(Buffer.concat(filling, fillingBytes));
        filling = [];
        while (compressing.length > 0) this.push(await compressing.shift()!);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  }) as ParallelGzip;
  stream.verifiedBytes = () => verifiedBytes;
  return stream;
}
