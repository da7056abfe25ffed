/**
 * Encryption of everything dockflow sends through Temporal: workflow inputs
 * (stack specs with their environment values), activity inputs and results,
 * queries, and failure messages. Temporal then stores only ciphertext; the
 * worker and the CLI, which hold the key, see plaintext; the UI sees it
 * through `dockflow codec-server`.
 *
 * AES-256-GCM with a fresh 96-bit IV per payload (./keys.ts). The whole
 * original payload (metadata and data) is encrypted, so even its encoding is
 * hidden. Each encrypted payload names its key by ID, so keys can rotate: the
 * first key encrypts, every listed key decrypts.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { isEncrypted, keysFromEnv, openPayloadBytes, sealPayloadBytes, type EncryptionKey } from './keys';

export { ENCRYPTED_ENCODING, parseKey, keysFromEnv, type EncryptionKey } from './keys';

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
    return payloads.map((payload) => sealPayloadBytes(temporal.api.common.v1.Payload.encode(payload).finish(), this.keys[0]));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload.metadata)) return payload;
      return temporal.api.common.v1.Payload.decode(openPayloadBytes(payload.metadata, payload.data ?? new Uint8Array(), this.byId)) as Payload;
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
