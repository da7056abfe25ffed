/**
 * Client-side encryption of backup archives with the worker's key
 * (DOCKFLOW_ENCRYPTION_KEY(_FILE), the key of src/temporal/codec.ts), in a
 * framing that streams: nothing is held but one chunk, and no plaintext
 * leaves the decryptor before its chunk's tag was checked.
 *
 *   header  "DFARCH01" | key ID (12 ASCII hex) | salt (32 random bytes) | chunk size (u32 BE)
 *   frames  length word (u32 BE: bit 31 = last frame, bits 0-30 = plaintext bytes)
 *           | AES-256-GCM ciphertext | 16-byte tag
 *
 * - Each archive has its own key: HKDF-SHA256 of the worker's key with the
 *   archive's random salt and its place (`<project>/<backup id>/<file>`) as
 *   info, so an archive moved to another backup or file no longer decrypts.
 * - Frame i's nonce is i (96 bits, big-endian): never reused under one key.
 * - Each frame authenticates the header, its index and its length word
 *   (with the last-frame bit): frames cannot be reordered, dropped, cut or
 *   appended to, and the stream must end with exactly one last frame.
 * - The sha256 in the manifest is over what is stored (ciphertext), so
 *   `sha256sum -c SHA256SUMS` still checks the files.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { EncryptionKey } from '../temporal/codec';

export { ARCHIVE_ENCRYPTION } from './manifest';
const MAGIC = Buffer.from('DFARCH01', 'ascii');
const KEY_ID_BYTES = 12;
const SALT_BYTES = 32;
export const HEADER_BYTES = MAGIC.length + KEY_ID_BYTES + SALT_BYTES + 4;
const TAG_BYTES = 16;
const LAST = 0x8000_0000;
/** Plaintext bytes per frame. */
export const CHUNK_BYTES = 1024 * 1024;
/** A header may not ask a reader to hold more than this per frame. */
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** An archive does not decrypt: damaged, tampered with, cut short, or another key's. */
export class ArchiveDecryptError extends Error {}

function archiveKey(master: Buffer, salt: Buffer, place: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, Buffer.from(`dockflow archive v1\0${place}`, 'utf8'), 32));
}

function nonce(index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(index), 4);
  return iv;
}

function aad(header: Buffer, index: number, word: number): Buffer {
  const tail = Buffer.alloc(12);
  tail.writeBigUInt64BE(BigInt(index), 0);
  tail.writeUInt32BE(word, 8);
  return Buffer.concat([header, tail]);
}

/** Bytes received but not used yet, without copying them on every push. */
class Pending {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const head = this.parts[0];
      const used = Math.min(head.length, n - at);
      head.copy(out, at, 0, used);
      at += used;
      if (used === head.length) this.parts.shift();
      else this.parts[0] = head.subarray(used);
    }
    this.length -= n;
    return out;
  }
  peekUInt32(): number {
    return this.length >= 4 ? (this.parts[0].length >= 4 ? this.parts[0].readUInt32BE(0) : Buffer.concat(this.parts).readUInt32BE(0)) : -1;
  }
}

/** Encrypts a stream with `key` for the archive stored at `place`. */
export function encryptArchive(key: EncryptionKey, place: string, chunkBytes = CHUNK_BYTES): Transform {
  const salt = randomBytes(SALT_BYTES);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(chunkBytes);
  const header = Buffer.concat([MAGIC, Buffer.from(key.id.padEnd(KEY_ID_BYTES).slice(0, KEY_ID_BYTES), 'ascii'), salt, size]);
  const k = archiveKey(key.key, salt, place);
  const pending = new Pending();
  let index = 0;
  const frame = (plain: Buffer, last: boolean): Buffer => {
    const word = (last ? LAST : 0) | plain.length;
    const cipher = createCipheriv('aes-256-gcm', k, nonce(index));
    cipher.setAAD(aad(header, index, word >>> 0));
    index += 1;
    const lengthWord = Buffer.alloc(4);
    lengthWord.writeUInt32BE(word >>> 0);
    return Buffer.concat([lengthWord, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  };
  return new Transform({
    construct(callback) {
      this.push(header);
      callback();
    },
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      pending.push(chunk);
      // A full chunk is sent once more data follows it: the last frame is only known at the end.
      while (pending.length > chunkBytes) this.push(frame(pending.take(chunkBytes), false));
      callback();
    },
    flush(callback) {
      this.push(frame(pending.take(pending.length), true));
      callback();
    },
  });
}

/** The key ID an encrypted archive's header names, or undefined when `head` is not such a header. */
export function archiveKeyId(head: Buffer): string | undefined {
  if (head.length < HEADER_BYTES || !head.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  return head.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES).toString('ascii').trim();
}

/**
 * Decrypts an archive stored at `place` with one of `keys` (the header names
 * which). Fails with ArchiveDecryptError, naming what is wrong, on anything
 * but an intact archive written for this place with one of these keys.
 */
export function decryptArchive(keys: EncryptionKey[], place: string): Transform & { keyId: () => string | undefined } {
  const pending = new Pending();
  let header: Buffer | undefined;
  let k: Buffer | undefined;
  let chunkBytes = 0;
  let index = 0;
  let ended = false;
  const fail = (why: string) => new ArchiveDecryptError(`it does not decrypt: ${why}`);
  const stream = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      pending.push(chunk);
      try {
        if (!header) {
          if (pending.length < HEADER_BYTES) return callback();
          header = pending.take(HEADER_BYTES);
          const id = archiveKeyId(header);
          if (id === undefined) throw fail('it is not an encrypted dockflow archive');
          const key = keys.find((c) => c.id === id);
          if (!key) throw fail(`it was encrypted with key ${id}, which is not among this worker's keys (${keys.map((c) => c.id).join(', ') || 'none'})`);
          chunkBytes = header.readUInt32BE(HEADER_BYTES - 4);
          if (chunkBytes === 0 || chunkBytes > MAX_CHUNK_BYTES) throw fail(`its header gives a chunk size of ${chunkBytes} bytes`);
          k = archiveKey(key.key, header.subarray(MAGIC.length + KEY_ID_BYTES, MAGIC.length + KEY_ID_BYTES + SALT_BYTES), place);
        }
        for (;;) {
          if (pending.length === 0) break;
          if (ended) throw fail('bytes follow its last frame');
          const word = pending.peekUInt32();
          if (word < 0) break;
          const length = word & ~LAST;
          if (length > chunkBytes) throw fail(`frame ${index} claims ${length} bytes, more than its chunk size`);
          if (pending.length < 4 + length + TAG_BYTES) break;
          pending.take(4);
          const body = pending.take(length);
          const tag = pending.take(TAG_BYTES);
          const decipher = createDecipheriv('aes-256-gcm', k!, nonce(index));
          decipher.setAAD(aad(header, index, word >>> 0));
          decipher.setAuthTag(tag);
          let plain: Buffer;
          try {
            plain = Buffer.concat([decipher.update(body), decipher.final()]);
          } catch {
            throw fail(`frame ${index} fails authentication (damaged, altered, or not written for ${place})`);
          }
          index += 1;
          if ((word & LAST) !== 0) ended = true;
          this.push(plain);
        }
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      if (!header) {
        const head = pending.take(Math.min(pending.length, MAGIC.length));
        return callback(fail(head.equals(MAGIC.subarray(0, head.length)) ? 'it is shorter than its header' : 'it is not an encrypted dockflow archive'));
      }
      if (!ended) return callback(fail(`it ends after ${index} frame(s) without its last frame (cut short)`));
      callback();
    },
  });
  return Object.assign(stream, { keyId: () => (header ? archiveKeyId(header) : undefined) });
}
