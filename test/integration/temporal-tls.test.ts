/**
 * Temporal behind TLS, mTLS and an API key, as a cluster reached across VPSs
 * is: the dev server fronted by a TLS proxy (test/support/tls-proxy.ts) that
 * requires a client certificate and `authorization: Bearer <key>`. The worker
 * (its own process), `dockflow deploy` and `dockflow ps` (the light client
 * first) connect through it with the settings, and fail clearly without them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { TEST_IMAGE, killHard, projectContainers, projectDir, removeProject, runCli, spawnWorker, startTestBed, type TestBed } from '../support/harness';
import { makeCertificates, startTlsProxy, type TestCertificates, type TlsProxy } from '../support/tls-proxy';
import { LightTemporal } from '../../src/client/light-temporal';
import { temporalSettings } from '../../src/temporal/settings';

const TASK_QUEUE = 'it-tls';
const PROJECT = 'tls-it';
const API_KEY = 'it-tls-key';

describe('Temporal over TLS with a client certificate and an API key', () => {
  let bed: TestBed;
  let certs: TestCertificates;
  let proxy: TlsProxy;
  let worker: ChildProcess | undefined;
  let secure: Record<string, string>;
  let file: string;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    certs = makeCertificates();
    proxy = await startTlsProxy(bed.address, certs, { apiKey: API_KEY, requireClientCert: true });
    // dockflow's own names for some, the temporal CLI's for others: both are read.
    secure = {
      TEMPORAL_ADDRESS: proxy.address,
      DOCKFLOW_TASK_QUEUE: TASK_QUEUE,
      DOCKFLOW_TEMPORAL_TLS_CA: certs.ca,
      TEMPORAL_TLS_CERT: certs.clientCert,
      TEMPORAL_TLS_KEY: certs.clientKey,
      DOCKFLOW_TEMPORAL_TLS_SERVER_NAME: certs.serverName,
      TEMPORAL_API_KEY: API_KEY,
    };
    await removeProject(bed.docker, PROJECT);
    file = path.join(
      projectDir(PROJECT, { 'docker-compose.yml': `services:\n  web:\n    image: ${TEST_IMAGE}\n    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]\n    stop_grace_period: 1s\n` }),
      'docker-compose.yml',
    );
  });

  after(async () => {
    if (worker) await killHard(worker);
    await removeProject(bed.docker, PROJECT).catch(() => undefined);
    await proxy?.close();
    await bed?.teardown();
  });

  it('the worker connects through TLS with its certificate and the API key', async () => {
    const before = proxy.seen.length;
    worker = await spawnWorker(bed, secure);
    const fromWorker = proxy.seen.slice(before);
    assert.ok(fromWorker.some((r) => r.method === 'PollWorkflowTaskQueue' || r.method === 'DescribeNamespace'), JSON.stringify(fromWorker.slice(0, 5)));
    assert.ok(fromWorker.every((r) => r.authorization === `Bearer ${API_KEY}`), 'every request of the worker carries the key');
    assert.ok(fromWorker.some((r) => /tonic/.test(r.userAgent ?? '')), `the worker's core connection came through: ${JSON.stringify([...new Set(fromWorker.map((r) => r.userAgent))])}`);
  });

  it('dockflow deploy and dockflow ps go through it; ps reads with the light client, also sending the key', async () => {
    const deploy = await runCli(['deploy', '-f', file, '--json'], secure);
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.equal((JSON.parse(deploy.stdout) as { revision: number }).revision, 1);
    assert.equal((await projectContainers(bed.docker, PROJECT)).length, 1);

    const before = proxy.seen.length;
    const ps = await runCli(['ps', '-p', PROJECT, '--json'], secure);
    assert.equal(ps.code, 0, ps.stderr);
    const status = JSON.parse(ps.stdout) as { revision?: { number: number } };
    assert.equal(status.revision?.number, 1, ps.stdout);
    const fromPs = proxy.seen.slice(before);
    // The SDK's clients name themselves (client-name); the light client does not.
    const light = fromPs.filter((r) => r.clientName === undefined);
    assert.ok(light.some((r) => r.method === 'ListWorkflowExecutions'), `light client requests: ${JSON.stringify(fromPs)}`);
    assert.ok(fromPs.every((r) => r.authorization === `Bearer ${API_KEY}`));
  });

  it('the light client itself: reads with the settings, refuses a server it cannot verify', async () => {
    const light = await LightTemporal.connect(temporalSettings(secure), [], 5_000);
    try {
      assert.ok(Array.isArray(await light.list(`WorkflowType = 'deploy'`)));
    } finally {
      light.close();
    }
    const { DOCKFLOW_TEMPORAL_TLS_CA: _ca, ...noCa } = secure;
    await assert.rejects(LightTemporal.connect(temporalSettings(noCa), [], 5_000), /certificate/);
  });

  it('without the CA: deploy and ps fail saying why, and nothing is deployed', async () => {
    const { DOCKFLOW_TEMPORAL_TLS_CA: _ca, ...noCa } = secure;
    const started = Date.now();
    const deploy = await runCli(['deploy', '-f', file, '--json'], noCa);
    assert.equal(deploy.code, 1, deploy.stderr);
    assert.match(deploy.stderr, new RegExp(`cannot connect to Temporal at ${proxy.address.replace(/\./g, '\\.')}: .*; the TLS handshake fails: .*certificate.* \\(check DOCKFLOW_TEMPORAL_TLS_CA`), deploy.stderr);
    const ps = await runCli(['ps', '-p', PROJECT], noCa);
    assert.match(ps.stdout + ps.stderr, new RegExp(`Temporal at ${proxy.address.replace(/\./g, '\\.')} does not answer: .*the TLS handshake fails: .*certificate`));
    console.log(`without the CA: ${Date.now() - started} ms; deploy said: ${deploy.stderr.trim()}`);
    assert.ok(proxy.handshakeErrors.length > 0, 'the proxy saw the handshake fail');
  });

  it('a worker without the CA stops at start, saying the handshake fails', async () => {
    const { DOCKFLOW_TEMPORAL_TLS_CA: _ca, ...noCa } = secure;
    await assert.rejects(spawnWorker(bed, noCa), /worker exited with 1 before polling:[\s\S]*cannot connect to Temporal at .*the TLS handshake fails: .*certificate/);
  });

  it('without the API key: refused by the server, the message says so', async () => {
    const { TEMPORAL_API_KEY: _key, ...noKey } = secure;
    const deploy = await runCli(['deploy', '-f', file, '--json'], noKey);
    assert.equal(deploy.code, 1, deploy.stderr);
    assert.match(deploy.stderr, /UNAUTHENTICATED: the test proxy refuses a request without a valid API key/);
  });

  it('a certificate without its key: exit 2 naming the variable and the file, no connection made', async () => {
    const { TEMPORAL_TLS_KEY: _key, ...noKey } = secure;
    const before = proxy.seen.length;
    const deploy = await runCli(['deploy', '-f', file], noKey);
    assert.equal(deploy.code, 2, deploy.stderr);
    assert.match(deploy.stderr, new RegExp(`TEMPORAL_TLS_CERT is set but no client key: .* ${certs.clientCert.replace(/\./g, '\\.')}`));
    const missing = await runCli(['ps', '-p', PROJECT], { ...secure, DOCKFLOW_TEMPORAL_TLS_CA: path.join(certs.dir, 'gone.pem') });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /DOCKFLOW_TEMPORAL_TLS_CA=.*gone\.pem: cannot read the CA certificate file \(ENOENT\)/);
    // The worker started above still polls (its core: tonic); nothing else may have come.
    assert.deepEqual(proxy.seen.slice(before).filter((r) => !/tonic/.test(r.userAgent ?? '')), [], 'nothing of the CLI reached the server');
  });
});
