/**
 * A digest of what a tar stream holds, so a restore can prove that the tree
 * it extracted is the tree in the archive: fed the archive's tar on its way
 * into Docker, then the tar Docker reads back from the extracted directory,
 * the two digests must be equal.
 *
 * Each entry contributes one line: type, path, permission bits, owner,
 * size, link target and the sha256 of its content. Modification times are
 * left out (a directory's changes as entries are added to it) and so are
 * user and group names (looked up, not stored). Lines are hashed in stream
 * order: Docker writes a tree in the same (lexical) order every time.
 *
 * Understands ustar, PAX (`x`, `g`) and GNU long names (`L`, `K`), and
 * base-256 numbers. Stops at the end-of-archive blocks. Pure streaming
 * logic, no I/O.
 *
 * `safeBytes()` tells how much of the stream fed so far is entries (headers,
 * content, padding) rather than end-of-archive blocks, so a stream can be
 * passed on without its end (src/backup/restore-stream.ts appends an entry).
 * With `{ contents: false }` the content of entries is not hashed (the
 * lines then carry an empty content digest): for a caller that only needs
 * the structure checked and the entries counted.
 */
import { createHash, type Hash } from 'node:crypto';

const BLOCK = 512;

export interface TarSummary {
  /** Entries (files, directories, links...), metadata records not counted. */
  entries: number;
  /** sha256 over every entry's line, hex. */
  digest: string;
  /** Bytes of tar fed in, padding and end blocks included. */
  bytes: number;
}

/** The tar stream is not well formed. */
export class TarFormatError extends Error {}

function numberField(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (field[0] & 0x80) {
    // Base-256: big-endian, high bit of the first byte is the marker.
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad number field ${JSON.stringify(text)} in a tar header`);
  return parseInt(text, 8);
}

function stringField(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** PAX records: "<len> key=value\n"... */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0) throw new TarFormatError('bad PAX record length');
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

interface Pending {
  header: Buffer;
  /** Content bytes still to come, then padding. */
  remaining: number;
  padding: number;
  /** Metadata records (PAX, GNU long names) are collected, file content hashed. */
  collect?: Buffer[];
  hash?: Hash;
}

export class TarDigest {
  private readonly lines = createHash('sha256');
  private entries = 0;
  private bytes = 0;
  private partial: Buffer = Buffer.alloc(0);
  private current: Pending | undefined;
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  private ended = false;
  private zeroBlocks = 0;
  /** Stream offset of the first of the zero blocks seen last (the end-of-archive, once `ended`). */
  private zeroStart = 0;
  private readonly contents: boolean;

  constructor(options: { contents?: boolean } = {}) {
    this.contents = options.contents ?? true;
  }

  /** Bytes fed so far that belong to entries: everything before the end-of-archive blocks (or blocks that may turn out to be them). */
  safeBytes(): number {
    if (this.ended) return this.zeroStart;
    return this.bytes - this.partial.length - (this.current ? 0 : this.zeroBlocks * BLOCK);
  }

  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    let data = this.partial.length ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = Buffer.alloc(0);
    while (data.length > 0 && !this.ended) {
      const cur = this.current;
      if (cur) {
        if (cur.remaining > 0) {
          const take = Math.min(cur.remaining, data.length);
          const part = data.subarray(0, take);
          if (cur.collect) cur.collect.push(Buffer.from(part));
          else cur.hash?.update(part);
          cur.remaining -= take;
          data = data.subarray(take);
          if (cur.remaining > 0) continue;
        }
        if (cur.padding > 0) {
          const take = Math.min(cur.padding, data.length);
          cur.padding -= take;
          data = data.subarray(take);
          if (cur.padding > 0) continue;
        }
        this.finishEntry(cur);
        this.current = undefined;
        continue;
      }
      if (data.length < BLOCK) {
        this.partial = Buffer.from(data);
        return;
      }
      const header = data.subarray(0, BLOCK);
      const at = this.bytes - data.length;
      data = data.subarray(BLOCK);
      this.startEntry(Buffer.from(header), at);
    }
  }

  private startEntry(header: Buffer, at: number): void {
    if (header.every((b) => b === 0)) {
      if (this.zeroBlocks === 0) this.zeroStart = at;
      this.zeroBlocks += 1;
      if (this.zeroBlocks >= 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    const stored = numberField(header, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    if (sum !== stored) throw new TarFormatError('a tar header has a wrong checksum');
    const type = String.fromCharCode(header[156] || 0x30);
    const size = type === '5' || type === '1' || type === '2' ? 0 : Number(this.pax.size ?? numberField(header, 124, 12));
    const meta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
    const declared = meta ? numberField(header, 124, 12) : size;
    const entry: Pending = { header, remaining: declared, padding: (BLOCK - (declared % BLOCK)) % BLOCK };
    if (meta) entry.collect = [];
    else if (this.contents) entry.hash = createHash('sha256');
    this.current = entry;
    if (declared === 0) {
      this.finishEntry(entry);
      this.current = undefined;
    }
  }

  private finishEntry(entry: Pending): void {
    const { header } = entry;
    const type = String.fromCharCode(header[156] || 0x30);
    if (entry.collect) {
      const data = Buffer.concat(entry.collect);
      if (type === 'x') this.pax = parsePax(data);
      else if (type === 'L') this.longName = stringField(data, 0, data.length);
      else if (type === 'K') this.longLink = stringField(data, 0, data.length);
      // 'g' (global PAX) only carries defaults Docker does not use for what we compare.
      return;
    }
    const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? stringField(header, 345, 155) : '';
    const ustarName = prefix ? `${prefix}/${stringField(header, 0, 100)}` : stringField(header, 0, 100);
    const name = (this.pax.path ?? this.longName ?? ustarName).replace(/\/+$/, '');
    const link = this.pax.linkpath ?? this.longLink ?? stringField(header, 157, 100);
    const mode = numberField(header, 100, 8) & 0o7777;
    const uid = this.pax.uid ?? String(numberField(header, 108, 8));
    const gid = this.pax.gid ?? String(numberField(header, 116, 8));
    const size = type === '5' || type === '1' || type === '2' ? 0 : Number(this.pax.size ?? numberField(header, 124, 12));
    const normalType = type === '7' ? '0' : type;
    const content = entry.hash ? entry.hash.digest('hex') : '';
    this.lines.update(`${normalType}\0${name}\0${mode.toString(8)}\0${uid}:${gid}\0${size}\0${link}\0${content}\n`);
    this.entries += 1;
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
  }

  /** Call once the stream ended. A stream cut inside an entry is an error. */
  end(): TarSummary {
    if (this.current || this.partial.length > 0) throw new TarFormatError('the tar stream ends inside an entry');
    if (!this.ended) throw new TarFormatError('the tar stream ends without its end-of-archive blocks');
    return { entries: this.entries, digest: this.lines.digest('hex'), bytes: this.bytes };
  }
}
