/**
 * Protocol buffers and unary gRPC calls over node:http2, just enough for the
 * few Temporal requests `dockflow ps` makes (src/client/light-temporal.ts).
 * The Temporal SDK builds the reflection of every Temporal message at load
 * (@temporalio/proto, about 0.1 to 0.2 s of CPU, more than the rest of `ps`);
 * these few messages are written and read here by field number instead.
 *
 * Plain-text HTTP/2, or TLS with the same settings as the SDK's connection
 * (src/temporal/settings.ts: CA, client certificate and key, server name) and
 * the API key as `authorization: Bearer` on every call, as the SDK sends it.
 */
import * as http2 from 'node:http2';
import type { TemporalTls } from '../temporal/settings';

/** A message being written: fields appended in any order (protobuf allows it), absent values skipped. */
export class ProtoWriter {
  private readonly chunks: Buffer[] = [];

  private tag(field: number, wireType: number): void {
    this.chunks.push(varint(field * 8 + wireType));
  }

  /** int32, int64, enum, bool (wire type 0); 0 and false are protobuf's defaults and are skipped. */
  int(field: number, value: number | boolean | undefined): this {
    const n = typeof value === 'boolean' ? Number(value) : value;
    if (n) {
      this.tag(field, 0);
      this.chunks.push(varint(n));
    }
    return this;
  }

  bytes(field: number, value: Uint8Array | undefined): this {
    if (value === undefined) return this;
    this.tag(field, 2);
    this.chunks.push(varint(value.length), Buffer.from(value.buffer, value.byteOffset, value.length));
    return this;
  }

  string(field: number, value: string | undefined): this {
    return value === undefined || value === '' ? this : this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** An embedded message, written even when empty (presence matters for messages). */
  message(field: number, value: ProtoWriter | undefined): this {
    return value === undefined ? this : this.bytes(field, value.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function varint(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint: ${value} is not a non-negative safe integer`);
  const bytes: number[] = [];
  let n = value;
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A message's fields by number, each with every occurrence in order (repeated fields, maps). */
export type ProtoFields = Map<number, (number | Buffer)[]>;

/** Reads every field of a message; varints as numbers (exact up to 2^53), length-delimited ones as buffers. */
export function readFields(buffer: Uint8Array): ProtoFields {
  const buf = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length);
  const fields: ProtoFields = new Map();
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint');
      const byte = buf[pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 70) throw new Error('protobuf: varint too long');
    }
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    let value: number | Buffer;
    if (wireType === 0) value = readVarint();
    else if (wireType === 2) {
      const length = readVarint();
      if (pos + length > buf.length) throw new Error('protobuf: truncated field');
      value = buf.subarray(pos, pos + length);
      pos += length;
    } else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      value = buf.subarray(pos, pos + size);
      pos += size;
    } else throw new Error(`protobuf: unsupported wire type ${wireType}`);
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

/** The last occurrence of a length-delimited field (protobuf's rule for a repeated scalar), or undefined. */
export function bytesField(fields: ProtoFields, field: number): Buffer | undefined {
  const value = fields.get(field)?.at(-1);
  return Buffer.isBuffer(value) ? value : undefined;
}

export function stringField(fields: ProtoFields, field: number): string {
  return bytesField(fields, field)?.toString('utf8') ?? '';
}

export function intField(fields: ProtoFields, field: number): number {
  const value = fields.get(field)?.at(-1);
  return typeof value === 'number' ? value : 0;
}

/** Every occurrence of a repeated message field. */
export function messagesField(fields: ProtoFields, field: number): ProtoFields[] {
  return (fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => readFields(b));
}

/** A map<string, bytes-or-message> field: each entry is a message with key 1 and value 2. */
export function mapField(fields: ProtoFields, field: number): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  for (const entry of messagesField(fields, field)) map.set(stringField(entry, 1), bytesField(entry, 2) ?? Buffer.alloc(0));
  return map;
}

/** A failed call: the gRPC status code and message the server sent (or the transport's error). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

/** One HTTP/2 connection to a gRPC server, for unary calls. */
export class GrpcConnection {
  private constructor(
    private readonly session: http2.ClientHttp2Session,
    private readonly apiKey: string | undefined,
  ) {}

  /**
   * Connected, or rejected with the transport's error (e.g. ECONNREFUSED, a
   * certificate Node does not trust), after timeoutMs, or when `signal`
   * aborts. With `tls`, the server's certificate is checked against `tls.ca`
   * (else Node's roots) and `tls.serverName` (else the address's host), as
   * the SDK does.
   */
  static connect(address: string, timeoutMs: number, secure: { tls?: TemporalTls; apiKey?: string } = {}, signal?: AbortSignal): Promise<GrpcConnection> {
    return new Promise((resolve, reject) => {
      const { tls } = secure;
      const session = tls
        ? http2.connect(`https://${address}`, {
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
            ...(tls.serverName ? { servername: tls.serverName } : {}),
          })
        : http2.connect(`http://${address}`);
      const giveUp = (message: string) => {
        clearTimeout(timer);
        session.destroy();
        reject(new GrpcError(4, message));
      };
      const timer = setTimeout(() => giveUp(`no connection to ${address} within ${timeoutMs} ms`), timeoutMs);
      // A caller that no longer needs the connection (e.g. the compose files did not load) ends the attempt at once.
      const onAbort = () => giveUp(`connection to ${address} abandoned`);
      signal?.addEventListener('abort', onAbort, { once: true });
      session.once('connect', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        session.removeAllListeners('error');
        // A later transport error fails the calls in flight (their streams close); it must not crash the process.
        session.on('error', () => undefined);
        resolve(new GrpcConnection(session, secure.apiKey));
      });
      // A TLS failure (an untrusted certificate) comes as the session's error, before 'connect'.
      session.once('error', (err) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        session.destroy();
        reject(err);
      });
    });
  }

  /** POST /<service>/<method> with one message; the one message of the answer, or a GrpcError. */
  call(service: string, method: string, request: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request({
          ':method': 'POST',
          ':path': `/${service}/${method}`,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
          ...(this.apiKey !== undefined ? { authorization: `Bearer ${this.apiKey}` } : {}),
        });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs + 1_000);
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const readStatus = (headers: http2.IncomingHttpHeaders) => {
        if (headers['grpc-status'] !== undefined) {
          status = String(headers['grpc-status']);
          message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      };
      stream.on('response', readStatus);
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => undefined);
      stream.on('close', () => {
        clearTimeout(timer);
        if (status === undefined) return reject(new GrpcError(14, `${method}: the stream closed without a gRPC status`));
        if (status !== '0') return reject(new GrpcError(Number(status), `${method}: ${message || `gRPC status ${status}`}`));
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0) return reject(new GrpcError(13, `${method}: not one uncompressed message`));
        const length = body.readUInt32BE(1);
        if (body.length !== 5 + length) return reject(new GrpcError(13, `${method}: not one message`));
        resolve(body.subarray(5));
      });
      const frame = Buffer.alloc(5 + request.length);
      frame.writeUInt32BE(request.length, 1);
      request.copy(frame, 5);
      stream.end(frame);
    });
  }

  /** Ends the connection now: a call still in flight (a progress query the caller no longer waits for) is abandoned. */
  close(): void {
    this.session.destroy();
  }
}
