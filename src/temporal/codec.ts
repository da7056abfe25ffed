/**
 * Encryption of everything dockflow sends through Temporal: workflow inputs
 * (stack specs with their environment values), activity inputs and results,
 * queries, and failure messages. Temporal then stores only ciphertext; the
 * worker and the CLI, which hold the key, see plaintext; the UI sees it
 * through `dockflow codec-server`.
 *
 * AES-256-GCM with a fresh 96-bit IV per payload. The whole original payload
 * (metadata and data) is encrypted, so even its encoding is hidden. Each
 * encrypted payload names its key by ID, so keys can rotate: the first key
 * encrypts, every listed key decrypts.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
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

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly encrypt: boolean;

  /**
   * `encrypt: false` gives a codec that only decodes: what a process that was
   * told to write plain payloads (`dockflow dev --insecure-plain-payloads`)
   * uses to still read what a client holding the key encrypted.
   */
  constructor(private readonly keys: EncryptionKey[], options: { encrypt?: boolean } = {}) {
    if (keys.length === 0) throw new Error('AesGcmCodec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    this.encrypt = options.encrypt ?? true;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    if (!this.encrypt) return payloads;
    const { id, key } = this.keys[0];
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID]: Buffer.from(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCRYPTED_ENCODING) return payload;
      const id = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload encrypted with key ${id}, which is not among the configured keys (${[...this.byId.keys()].join(', ')})`);
      const data = Buffer.from(payload.data ?? []);
      const iv = data.subarray(0, IV_BYTES);
      const tag = data.subarray(data.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The failure converter module clients, workers and workflow bundles load when encryption is on. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter for clients and workers: the codec, and failure
 * messages and stack traces moved into an (encrypted) payload, since an
 * error can quote a secret. Undefined without keys (Temporal's default).
 * A pre-built workflow bundle must be bundled with the same
 * failureConverterPath (bundleWorkflowCode).
 */
export function dataConverterFromEnv(env: Record<string, string | undefined> = process.env): DataConverter | undefined {
  return dataConverterForKeys(keysFromEnv(env));
}

/**
 * The data converter for a list of keys (none: undefined, Temporal's plain
 * default). `encrypt: false`: decode only, and failures stay in clear text.
 */
export function dataConverterForKeys(keys: EncryptionKey[], options: { encrypt?: boolean } = {}): DataConverter | undefined {
  if (keys.length === 0) return undefined;
  const encrypt = options.encrypt ?? true;
  return { payloadCodecs: [new AesGcmCodec(keys, { encrypt })], ...(encrypt ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}) };
}
