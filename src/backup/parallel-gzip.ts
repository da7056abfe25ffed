/**
 * gzip on every core: the stream is cut into blocks that are compressed side
 * by side on libuv's thread pool and written in their original order, each
 * block a complete gzip member. RFC 1952 lets a file hold several members one
 * after another; gunzip, GNU and busybox tar, Node's zlib and the Docker
 * engine's archive upload all read them as one stream. One zlib stream is
 * bound to one core, which made a backup's compression the slowest step
 * (bench/backup-phases.ts).
 *
 * Memory stays bounded: at most `concurrency` blocks are being compressed
 * and one is being filled; input waits while the oldest block compresses.
 */
import { availableParallelism } from 'node:os';
import { Transform } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);

export interface ParallelGzipOptions {
  /** Uncompressed bytes per gzip member. Large enough that the per-member header (about 20 bytes) and the fresh dictionary cost nothing measurable. */
  blockBytes?: number;
  /** Blocks compressed at once. */
  concurrency?: number;
  level?: number;
}

export function parallelGzip(options: ParallelGzipOptions = {}): Transform {
  const blockBytes = options.blockBytes ?? 4 * 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? availableParallelism());
  const level = options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
  let filling: Buffer[] = [];
  let fillingBytes = 0;
  let membersStarted = 0;
  const compressing: Promise<Buffer>[] = [];

  const startMember = (block: Buffer) => {
    const member = gzip(block, { level });
    // Awaited in order later; without this a failure would count as unhandled until then.
    member.catch(() => undefined);
    compressing.push(member);
    membersStarted += 1;
  };

  return new Transform({
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
  });
}
