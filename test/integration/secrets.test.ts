/**
 * Secrets stay out of Temporal's history: with DOCKFLOW_ENCRYPTION_KEY the
 * client and the worker encrypt every payload (AES-256-GCM), so a deploy
 * whose environment holds a secret leaves no trace of it in the history as
 * Temporal stores it, while the container gets it and the codec server gives
 * it back to a caller with the token. A second deploy without the key shows
 * the same check finding the secret, so the check can fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { findTemporalCli } from '../../src/temporal/settings';
import { AesGcmCodec, dataConverterFromEnv, keysFromEnv } from '../../src/temporal/codec';
import { createCodecServer } from '../../src/temporal/codec-server';
import { freePort, projectDir, REPO_ROOT, removeProject, runCli, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-secrets';
const PLAIN_QUEUE = 'it-secrets-plain';
const PROJECT = 'itsecret';
const PLAIN = 'itsecretplain';

/** Every place a secret could hide in an exported history: raw strings and decoded base64 strings. */
function historyMentions(historyJson: string, secret: string): boolean {
  if (historyJson.includes(secret)) return true;
  let found = false;
  const walk = (v: unknown): void => {
    if (found) return;
    if (typeof v === 'string') {
      if (v.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').toString('latin1').includes(secret)) found = true;
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(historyJson));
  return found;
}

describe('secrets never in workflow history', () => {
  let bed: TestBed;
  const stops: (() => Promise<void>)[] = [];
  const key = randomBytes(32).toString('base64');
  const env = { DOCKFLOW_ENCRYPTION_KEY: key };
  const secret = `pw-${randomBytes(9).toString('hex')}`;
  const token = `tok-${randomBytes(9).toString('hex')}`;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    for (const p of [PROJECT, PLAIN]) await removeProject(bed.docker, p);
    // Its bundle carries the failure converter too, so failure messages are encrypted as well.
    stops.push(await startWorker(bed, { dataConverter: dataConverterFromEnv(env) }));
    stops.push(await startWorker({ ...bed, taskQueue: PLAIN_QUEUE }));
  });

  after(async () => {
    for (const stop of stops) await stop();
    for (const p of [PROJECT, PLAIN]) await removeProject(bed.docker, p);
    await bed?.teardown();
  });

  const specFor = (project: string) => {
    const dir = projectDir(project, {
      'docker-compose.yml': `
name: ${project}
services:
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    environment: {DB_PASSWORD: "${secret}"}
    env_file: [app.env]
`,
      'app.env': `API_TOKEN=${secret}-from-env-file\n`,
    });
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };

  const exportHistory = (workflowId: string): string => {
    const cli = findTemporalCli();
    assert.ok(cli, 'the Temporal CLI of the test bed');
    return execFileSync(cli!, ['workflow', 'show', '--address', bed.address, '--workflow-id', workflowId, '--output', 'json'], { encoding: 'utf8' });
  };

  it('keeps environment values out of the stored history, and the codec server decodes them for the UI', async () => {
    const client = new Client({ connection: bed.env.connection, dataConverter: dataConverterFromEnv(env) });
    await client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-secret-enc', args: [{ spec: specFor(PROJECT) }] });
    const info = await bed.docker.getContainer(`${PROJECT}-app-1`).inspect();
    assert.ok(info.Config.Env.includes(`DB_PASSWORD=${secret}`) && info.Config.Env.includes(`API_TOKEN=${secret}-from-env-file`), 'the container has both values');

    const stored = exportHistory('it-secret-enc');
    assert.equal(historyMentions(stored, secret), false, 'the secret appears nowhere in the stored history');
    assert.match(stored, /binary\/encrypted|YmluYXJ5L2VuY3J5cHRlZA/, 'payloads are marked encrypted');

    // Control: the same deploy without a key leaves the secret readable, so the check above can fail.
    await bed.env.client.workflow.execute('deploy', { taskQueue: PLAIN_QUEUE, workflowId: 'it-secret-plain', args: [{ spec: specFor(PLAIN) }] });
    assert.equal(historyMentions(exportHistory('it-secret-plain'), secret), true, 'without a key the secret is in the history');

    // The codec server: what the UI calls to show the input decoded.
    const server = createCodecServer({ codec: new AesGcmCodec(keysFromEnv(env)), token, allowOrigin: 'http://127.0.0.1:8233' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const input = JSON.parse(stored).events[0].workflowExecutionStartedEventAttributes.input;
      const body = JSON.stringify({ payloads: input.payloads });
      const refused = await fetch(`${url}/decode`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      assert.equal(refused.status, 401);
      const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:8233', 'Access-Control-Request-Method': 'POST' } });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
      const decoded = await fetch(`${url}/decode`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } });
      assert.equal(decoded.status, 200);
      const payloads = ((await decoded.json()) as { payloads: { data: string }[] }).payloads;
      assert.ok(Buffer.from(payloads[0].data, 'base64').toString('utf8').includes(secret), 'the decoded input holds the secret');
    } finally {
      server.close();
    }
  });

  it('refuses a malformed key by name', () => {
    assert.throws(() => keysFromEnv({ DOCKFLOW_ENCRYPTION_KEY: 'too-short' }), /DOCKFLOW_ENCRYPTION_KEY: an encryption key must be 32 bytes/);
  });
});

describe('codec server token: never on the command line', () => {
  const key = randomBytes(32).toString('base64');
  const token = `tok-${randomBytes(9).toString('hex')}`;

  it('refuses --token with exit 2 and says to use DOCKFLOW_CODEC_TOKEN or --token-file', async () => {
    const run = await runCli(['codec-server', '--token', token], { DOCKFLOW_ENCRYPTION_KEY: key }, 60_000);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--token is refused: .*visible to every user.* set DOCKFLOW_CODEC_TOKEN or use --token-file/);
    // Without a token on a non-loopback address it does not start either.
    const open = await runCli(['codec-server', '--host', '0.0.0.0'], { DOCKFLOW_ENCRYPTION_KEY: key, DOCKFLOW_CODEC_TOKEN: '' }, 60_000);
    assert.equal(open.code, 2, open.stderr);
    assert.match(open.stderr, /needs DOCKFLOW_CODEC_TOKEN or --token-file/);
  });

  /** Start `dockflow codec-server` and answer 401/200 for a POST /encode without and with the token. */
  async function statuses(args: string[], env: Record<string, string>): Promise<[number, number]> {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'codec-server', '--port', String(port), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', DOCKFLOW_CODEC_TOKEN: '', DOCKFLOW_ENCRYPTION_KEY: key, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`codec-server did not start:\n${output}`)), 60_000);
        const onData = (c: Buffer) => {
          output += c.toString();
          if (output.includes('codec server on')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', (code) => reject(new Error(`codec-server exited with ${code}:\n${output}`)));
      });
      assert.match(output, /bearer token required/);
      const body = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"x"').toString('base64') }] });
      const post = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/encode`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } }).then((r) => r.status);
      return [await post({}), await post({ Authorization: `Bearer ${token}` })];
    } finally {
      child.kill('SIGTERM');
    }
  }

  it('takes the token from DOCKFLOW_CODEC_TOKEN: 401 without it, 200 with it', async () => {
    assert.deepEqual(await statuses([], { DOCKFLOW_CODEC_TOKEN: token }), [401, 200]);
  });

  it('takes the token from --token-file (trailing newline ignored)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-codec-')), 'token');
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    assert.deepEqual(await statuses(['--token-file', file], {}), [401, 200]);
  });
});
