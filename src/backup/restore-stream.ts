/**
 * The tar a restore sends the Docker engine: the archive's own tar (already
 * decompressed, and decrypted, on the worker) passed through unchanged up to
 * its end-of-archive blocks, then, only if `check` finds nothing wrong with
 * the whole archive, one more entry (EXTRACTED_MARKER, holding `marker`) and
 * new end-of-archive blocks.
 *
 * The engine extracts a tar in stream order, so the marker in the data set
 * proves that every entry before it was extracted there, from an archive
 * that matched its manifest: the restore's commit step refuses a staging
 * copy without it (src/backup/restore-swap.ts). That replaces reading the
 * whole extracted tree back through the API, which cost a second pass over
 * the data, to catch the same failure (an engine that acknowledges a write
 * and keeps nothing).
 *
 * The engine gets plain tar: it does not decompress what the worker already
 * decompressed to check it. A stream that fails `check`, is not a
 * well-formed tar, or ends inside an entry fails with an error and never
 * sends the marker.
 *
 * Node-side (streams); no Docker, no files.
 */
import { Transform } from 'node:stream';
import { TarDigest, type TarSummary } from './tar-digest';
import { EXTRACTED_MARKER } from './restore-swap';

const BLOCK = 512;

/** The archive did not match what its manifest records: `check`'s finding. */
export class ArchiveMismatch extends Error {}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One ustar entry: a regular file EXTRACTED_MARKER (mode 0600, owner 0:0) holding `content`, padded to whole blocks. */
export function markerEntry(content: string): Buffer {
  const body = Buffer.from(content, 'utf8');
  const header = Buffer.alloc(BLOCK);
  header.write(EXTRACTED_MARKER, 0, 100, 'utf8');
  header.write(octal(0o600, 8), 100, 'latin1');
  header.write(octal(0, 8), 108, 'latin1');
  header.write(octal(0, 8), 116, 'latin1');
  header.write(octal(body.length, 12), 124, 'latin1');
  header.write(octal(0, 12), 136, 'latin1');
  header.write('        ', 148, 'latin1'); // the checksum field counts as spaces while summing
  header.write('0', 156, 'latin1');
  header.write('ustar\0', 257, 'latin1');
  header.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padding = (BLOCK - (body.length % BLOCK)) % BLOCK;
  return Buffer.concat([header, body, Buffer.alloc(padding)]);
}

export interface TarGateOptions {
  /** Called once the whole tar went through: a problem with the archive (the marker is then never sent), or undefined. */
  check: (tree: TarSummary) => string | undefined;
  /** Content of the marker entry. */
  marker: string;
}

/** The gate; `checked()` is true once `check` passed and the marker went out. */
export type TarGate = Transform & { checked(): boolean };

export function tarGate({ check, marker }: TarGateOptions): TarGate {
  const tree = new TarDigest({ contents: false });
  let held: Buffer[] = [];
  let forwarded = 0;
  let passed = false;
  const gate = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        tree.write(chunk);
      } catch (err) {
        return done(err as Error);
      }
      held.push(chunk);
      // Pass on everything known to be entries; hold back what may be the end-of-archive blocks.
      let give = tree.safeBytes() - forwarded;
      while (give > 0 && held.length > 0) {
        const head = held[0];
        if (head.length <= give) {
          this.push(head);
          held.shift();
          give -= head.length;
          forwarded += head.length;
        } else {
          this.push(head.subarray(0, give));
          held[0] = head.subarray(give);
          forwarded += give;
          give = 0;
        }
      }
      done();
    },
    flush(done) {
      held = []; // the end-of-archive blocks (and any record padding): replaced below
      let summary: TarSummary;
      try {
        summary = tree.end();
      } catch (err) {
        return done(err as Error);
      }
      const problem = check(summary);
      if (problem !== undefined) return done(new ArchiveMismatch(problem));
      passed = true;
      this.push(markerEntry(marker));
      this.push(Buffer.alloc(2 * BLOCK));
      done();
    },
  }) as TarGate;
  gate.checked = () => passed;
  return gate;
}
