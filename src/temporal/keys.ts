/**
 * The payload encryption keys and the sealing of one payload's bytes, without
 * the Temporal SDK: what the codec (./codec.ts) and `dockflow ps`'s light
 * Temporal reads (src/client/light-temporal.ts) share, so ps decodes the
 * encrypted results it reads exactly as the codec would, without loading the
 * SDK's protobuf definitions (about 0.1 to 0.2 s of CPU).
 *
 * AES-256-GCM with a fresh 96-bit IV per payload: the sealed data is
 * IV, ciphertext, tag; the encrypted payload names its key by ID in its
 * metadata, so keys can rotate.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** A key from its text form: 32 bytes as 64 hex digits or base64. Anything else is refused by name. */
export function parseKey(text: string, source: string): EncryptionKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && key.toString('base64').replace(/=+$/, '') !== trimmed.replace(/=+$/, ''))) {
    throw new Error(`${source}: an encryption key must be 32 bytes, written as 64 hex digits or base64 (e.g. the output of: openssl rand -base64 32)`);
  }
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
}

/**
 * The keys configured in an environment: DOCKFLOW_ENCRYPTION_KEY (one key) or
 * DOCKFLOW_ENCRYPTION_KEY_FILE (one key per line; the first encrypts, all
 * decrypt). None configured: an empty list, and payloads stay plaintext.
 */
export function keysFromEnv(env: Record<string, string | undefined> = process.env): EncryptionKey[] {
  if (env.DOCKFLOW_ENCRYPTION_KEY) return [parseKey(env.DOCKFLOW_ENCRYPTION_KEY, 'DOCKFLOW_ENCRYPTION_KEY')];
  const file = env.DOCKFLOW_ENCRYPTION_KEY_FILE;
  if (!file) return [];
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new Error(`DOCKFLOW_ENCRYPTION_KEY_FILE ${file} holds no key`);
  return lines.map((line, i) => parseKey(line, `${file} line ${i + 1}`));
}

/** The encoding and key ID an encrypted payload's metadata carries, and its sealed data (IV, ciphertext, tag). */
export function sealPayloadBytes(plain: Uint8Array, { id, key }: EncryptionKey): { metadata: Record<string, Uint8Array>; data: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID]: Buffer.from(id) }, data: sealed };
}

/** The plain bytes of an encrypted payload (its whole original Payload, protobuf-encoded); throws when the key is unknown or the data was altered. */
export function openPayloadBytes(metadata: Record<string, Uint8Array> | null | undefined, sealed: Uint8Array, byId: ReadonlyMap<string, Buffer>): Buffer {
  const id = Buffer.from(metadata?.[KEY_ID] ?? []).toString();
  const key = byId.get(id);
  if (!key) throw new Error(`payload encrypted with key ${id}, which is not among the configured keys (${[...byId.keys()].join(', ')})`);
  const data = Buffer.from(sealed);
  const iv = data.subarray(0, IV_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
}

/** True when a payload's metadata marks it encrypted by this codec. */
export function isEncrypted(metadata: Record<string, Uint8Array> | null | undefined): boolean {
  return Buffer.from(metadata?.encoding ?? []).toString() === ENCRYPTED_ENCODING;
}
