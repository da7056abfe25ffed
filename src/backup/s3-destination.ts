/**
 * Backups in an S3-compatible bucket: `s3://bucket/prefix`. Object keys are
 * `<prefix>/<project>/<backup id>/<file>`, every key checked by
 * backupKeyParts like a local path is.
 *
 * - A write is a multipart upload fed as the archive streams (parts of
 *   DOCKFLOW_S3_PART_MIB, default 16 MiB, four in flight: at most about
 *   64 MiB in memory, nothing on local disk). The upload is completed only
 *   by commit(), so an archive that was cut short never becomes an object;
 *   abort() and discardPending() abort the multipart upload, which S3 would
 *   otherwise keep (and bill) forever.
 * - Reads stream the object (GET); listing uses `/` as delimiter.
 * - Endpoint, region and credentials come from the worker's environment:
 *   AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (then path-style addressing,
 *   which S3-compatible servers expect), AWS_REGION, and the AWS SDK's
 *   default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 *   AWS_PROFILE with its shared credentials file, ...). None of it ever
 *   enters a workflow input.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DestinationError, backupKeyParts, type BackupDestination, type PendingWrite } from './destination';
import { parseS3Url, type S3Location } from '../model/s3-url';

const MIB = 1024 * 1024;
/** Parts in flight per upload. */
const QUEUE_SIZE = 4;

/**
 * The S3 client settings a worker's environment gives. Credentials: the
 * environment's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN)
 * when set, else the AWS SDK's default chain (AWS_PROFILE and the shared
 * credentials file, instance roles, ...), which reads them when needed.
 */
export function s3ClientConfig(env: Record<string, string | undefined> = process.env): S3ClientConfig {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined);
  const keys =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
      : {};
  return {
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(region ? { region } : {}),
    ...keys,
    // Checksums only where S3 requires them: S3-compatible servers differ in which newer checksum headers they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

function partSizeOf(env: Record<string, string | undefined>): number {
  const mib = Number(env.DOCKFLOW_S3_PART_MIB || 16);
  if (!Number.isInteger(mib) || mib < 5 || mib > 5 * 1024) throw new DestinationError(`DOCKFLOW_S3_PART_MIB=${env.DOCKFLOW_S3_PART_MIB}: a whole number of MiB from 5 to 5120`);
  return mib * MIB;
}

/** One client per endpoint and region for the worker's life: connections are reused across activities. */
const clients = new Map<string, S3Client>();

function clientFor(env: Record<string, string | undefined>): S3Client {
  const config = s3ClientConfig(env);
  const id = JSON.stringify([config.endpoint, config.region, config.credentials, env.AWS_PROFILE]);
  let client = clients.get(id);
  if (!client) {
    client = new S3Client(config);
    clients.set(id, client);
  }
  return client;
}

/** Whether an SDK error means "no such object". */
function notFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is also a 404, but no object in it can ever be found: not this.
  if (e?.name === 'NoSuchBucket') return false;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export class S3Destination implements BackupDestination {
  readonly description: string;
  private readonly partSize: number;

  constructor(
    readonly location: S3Location,
    private readonly client: S3Client,
    partSize = 16 * MIB,
  ) {
    this.description = `S3 bucket s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
    this.partSize = partSize;
  }

  static fromUrl(url: string, env: Record<string, string | undefined> = process.env): S3Destination {
    const parsed = parseS3Url(url);
    if ('problem' in parsed) throw new DestinationError(`backup destination ${url}: ${parsed.problem}`);
    return new S3Destination(parsed, clientFor(env), partSizeOf(env));
  }

  /** The object key of a backup key; `<prefix>/` comes first, and the key's parts are checked. */
  objectKey(key: string): string {
    return [...(this.location.prefix ? [this.location.prefix] : []), ...backupKeyParts(key)].join('/');
  }

  private get bucket(): string {
    return this.location.bucket;
  }

  /** Wraps SDK errors so the message names the bucket and what was asked. */
  private async send<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (notFound(err)) throw err;
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const wrapped = new Error(`${this.description}: ${what}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}${status ? ` (HTTP ${status})` : ''}`);
      // Access and bucket problems do not heal by retrying: the activity turns these into a non-retryable failure.
      if (status === 403 || e.name === 'CredentialsProviderError' || e.name === 'NoSuchBucket' || e.name === 'AccessDenied' || e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch') {
        throw Object.assign(new DestinationError(wrapped.message), { cause: err });
      }
      throw Object.assign(wrapped, { cause: err });
    }
  }

  async exists(key: string): Promise<boolean> {
    const Key = this.objectKey(key);
    try {
      await this.send(`HEAD ${Key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key })));
      return true;
    } catch (err) {
      if (notFound(err)) return false;
      throw err;
    }
  }

  async openWrite(key: string, _token: string): Promise<PendingWrite> {
    const Key = this.objectKey(key);
    // The body stays open until commit(): lib-storage completes the upload when its body ends, and only
    // a commit may make the object visible.
    const body = new PassThrough({ highWaterMark: MIB });
    const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key, Body: body }, partSize: this.partSize, queueSize: QUEUE_SIZE, leavePartsOnError: false });
    let uploadError: Error | undefined;
    const done = upload.done().then(
      () => undefined,
      (err: Error) => {
        uploadError = err;
      },
    );
    const stream: Writable = new Writable({
      highWaterMark: MIB,
      write(chunk: Buffer, _enc, callback) {
        if (uploadError) return callback(uploadError);
        if (body.write(chunk)) return callback();
        const onDrain = () => {
          body.off('close', onClose);
          callback();
        };
        const onClose = () => {
          body.off('drain', onDrain);
          callback(uploadError ?? new Error('the upload stopped'));
        };
        body.once('drain', onDrain);
        body.once('close', onClose);
      },
      final(callback) {
        callback(uploadError);
      },
    });
    // An upload that fails while data still comes (network, server) fails the writer instead of stalling it.
    void done.then(() => {
      if (uploadError && !stream.destroyed) stream.destroy(uploadError);
      if (uploadError && !body.destroyed) body.destroy();
    });
    return {
      stream,
      commit: async () => {
        body.end();
        await done;
        if (uploadError) throw new Error(`${this.description}: upload of ${Key} failed: ${uploadError.message}`, { cause: uploadError });
      },
      abort: async () => {
        stream.destroy();
        // An error makes lib-storage abort its multipart upload; the listing below catches one it could not.
        body.destroy(new Error('backup archive aborted'));
        await done;
        await this.abortUploads(Key);
      },
    };
  }

  /** Abort multipart uploads of exactly `Key` (or, with `under`, of every key under `Key/`). */
  private async abortUploads(Key: string, under = false): Promise<number> {
    const Prefix = under ? `${Key}/` : Key;
    let aborted = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.send(`list multipart uploads under ${Prefix}`, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, KeyMarker, UploadIdMarker })),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (!under && u.Key !== Key)) continue;
        try {
          await this.send(`abort multipart upload ${u.Key}`, () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key!, UploadId: u.UploadId! })));
          aborted += 1;
        } catch (err) {
          if (!notFound(err)) throw err; // aborted meanwhile
        }
      }
      if (!page.IsTruncated) return aborted;
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /**
   * A key's upload belongs to the one workflow whose backup ID is in the
   * key (IDs are per workflow), so every unfinished upload of the key is an
   * earlier attempt's: all are aborted, whatever the token.
   */
  async discardPending(key: string, _tokenPrefix: string): Promise<void> {
    await this.abortUploads(this.objectKey(key));
  }

  async openRead(key: string): Promise<Readable> {
    const Key = this.objectKey(key);
    const out = await this.send(`GET ${Key}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key })));
    if (!(out.Body instanceof Readable)) throw new Error(`${this.description}: GET ${Key} returned no stream`);
    return out.Body;
  }

  async readText(key: string): Promise<string | undefined> {
    const Key = this.objectKey(key);
    try {
      const out = await this.send(`GET ${Key}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key })));
      return await out.Body!.transformToString('utf8');
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  /** A PUT is atomic in S3: readers see the old object or the new one. */
  async writeText(key: string, text: string, _token: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.send(`PUT ${Key}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: text, ContentType: 'text/plain; charset=utf-8' })));
  }

  /**
   * Names directly under a prefix: objects' and "folders'" names, including
   * folders that so far hold only an unfinished multipart upload (a backup
   * in progress, or one whose worker died: `backups` reports it incomplete).
   */
  async list(prefix: string): Promise<string[]> {
    const Prefix = `${this.objectKey(prefix)}/`;
    const names = new Set<string>();
    let ContinuationToken: string | undefined;
    do {
      const page = await this.send(`list ${Prefix}`, () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, Delimiter: '/', ContinuationToken })));
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.add(p.Prefix.slice(Prefix.length).replace(/\/$/, ''));
      for (const o of page.Contents ?? []) if (o.Key) names.add(o.Key.slice(Prefix.length));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    let KeyMarker: string | undefined;
    for (;;) {
      const page = await this.send(`list multipart uploads under ${Prefix}`, () => this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, KeyMarker })));
      for (const u of page.Uploads ?? []) if (u.Key) names.add(u.Key.slice(Prefix.length).split('/')[0]);
      if (!page.IsTruncated || !page.NextKeyMarker) break;
      KeyMarker = page.NextKeyMarker;
    }
    names.delete('');
    return [...names].sort();
  }

  /** A file's key removes that object; a backup's or project's prefix removes every object and unfinished upload under it. */
  async remove(keyOrPrefix: string): Promise<void> {
    const parts = backupKeyParts(keyOrPrefix);
    const Key = this.objectKey(keyOrPrefix);
    if (parts.length === 3) {
      await this.send(`DELETE ${Key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
      await this.abortUploads(Key);
      return;
    }
    const Prefix = `${Key}/`;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.send(`list ${Prefix}`, () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken })));
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => Boolean(k));
      // The manifest first: a backup half-deleted never looks complete.
      keys.sort((a, b) => Number(b.endsWith('/manifest.json')) - Number(a.endsWith('/manifest.json')));
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const out = await this.send(`delete ${batch.length} object(s) under ${Prefix}`, () =>
          this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: k })), Quiet: true } })),
        );
        if (out.Errors?.length) throw new Error(`${this.description}: could not delete ${out.Errors.map((e) => `${e.Key} (${e.Code})`).join(', ')}`);
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    await this.abortUploads(Key, true);
  }
}
