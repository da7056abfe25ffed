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
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { findTemporalCli } from '../../src/temporal/settings';
import { AesGcmCodec, dataConverterFromEnv, keysFromEnv } from '../../src/temporal/codec';
import { createCodecServer } from '../../src/temporal/codec-server';
import { projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

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
