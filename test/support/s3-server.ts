/**
 * A real S3 server for tests: versitygw (Apache-2.0) with its posix backend
 * over a temporary directory, on 127.0.0.1 and a free port. The test bed
 * builds the binary once (scripts/testbed.sh, cached like the other Go
 * binaries); VERSITYGW_PATH names another.
 *
 * `env` holds the AWS SDK's standard variables a worker reads to reach it
 * (endpoint, region, credentials): tests hand them to the worker's process
 * environment, never to a workflow input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './harness';

const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';

/** Where scripts/images/go-binary.sh caches the build. */
export function versitygwPath(env: Record<string, string | undefined> = process.env): string {
  if (env.VERSITYGW_PATH) return env.VERSITYGW_PATH;
  const cache = env.DOCKFLOW_CACHE_DIR || path.join(os.homedir(), '.cache', 'dockflow');
  return path.join(cache, 'gobuild', VERSITYGW_MODULE.replace(/[/@]/g, '_'), 'versitygw');
}

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** The backend directory: bucket `b`'s object `k` is the file `<root>/b/k`. */
  root: string;
  /** AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. */
  env: Record<string, string>;
  /** A client with the same settings, for the test's own checks. */
  client: S3Client;
  stop(): Promise<void>;
}

export async function startS3Server(bucket: string): Promise<S3TestServer> {
  const bin = versitygwPath();
  if (!fs.existsSync(bin)) throw new Error(`versitygw is not built at ${bin}; run scripts/testbed.sh first (or set VERSITYGW_PATH)`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-s3-'));
  const port = await freePort();
  const access = 'dockflowtest';
  const secret = `secret-${Math.random().toString(36).slice(2)}`;
  // Credentials through the environment, not argv: other users of the machine can read argv.
  const child: ChildProcess = spawn(bin, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', root], {
    env: { ...process.env, ROOT_ACCESS_KEY_ID: access, ROOT_SECRET_ACCESS_KEY: secret },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: access, AWS_SECRET_ACCESS_KEY: secret };
  const client = new S3Client({ endpoint, region: env.AWS_REGION, forcePathStyle: true, credentials: { accessKeyId: access, secretAccessKey: secret } });
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      break;
    } catch (err) {
      if (child.exitCode !== null) {
        await stop();
        throw new Error(`versitygw exited with ${child.exitCode}: ${stderr}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`versitygw did not answer on ${endpoint} within 30 s (${(err as Error).message}): ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { endpoint, bucket, root, env, client, stop };
}
