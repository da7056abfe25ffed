/**
 * The production setup the README describes, run as written:
 * docker-compose.temporal.yml (Temporal server on PostgreSQL, the schema
 * job, the UI, a dockflow worker built from the Dockerfile) brought up by
 * scripts/try-production.sh on the test bed's local images, and the
 * `dockflow` CLI deploying through it.
 *
 * - the demo stack deploys, lists and comes down through the cluster
 *   (`try-production.sh demo`, what `npm run try-production` runs);
 * - the Temporal server container is restarted while a deploy is half-way:
 *   the deploy completes, because its history lives in PostgreSQL.
 * - the cluster runs with an encryption key (DOCKFLOW_ENCRYPTION_KEY_FILE),
 *   so the `codec` profile's codec server runs beside it: it decodes a
 *   payload the worker encrypted into PostgreSQL, for the UI's origin, and
 *   the UI is configured with it; with a token file it refuses requests
 *   without the token, and the token is in no process's command line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { ensureBaseImage } from '../../src/demo/base-image';
import { freePort, projectContainers, REPO_ROOT, removeProject, runCli, TEST_IMAGE } from '../support/harness';

const CLUSTER = 'dockflow-temporal';
const SLOW = 'itprodslow';

function script(step: string, env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO_ROOT, 'scripts', 'try-production.sh'), step], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`try-production.sh ${step} timed out:\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Three services in a service_healthy chain, each a few seconds to become healthy: a deploy long enough to interrupt. */
function slowStack(): string {
  const service = (name: string, dependsOn?: string) => `
  ${name}:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "sleep 3; echo ok > /www/health; exec httpd -f -p 8080 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 30${dependsOn ? `\n    depends_on:\n      ${dependsOn}:\n        condition: service_healthy` : ''}`;
  return `name: ${SLOW}\nservices:${service('db')}${service('api', 'db')}${service('web', 'api')}\n`;
}

describe('production: Temporal on PostgreSQL, the worker image, the CLI', { timeout: 1_800_000 }, () => {
  const docker = new Docker();
  let env: Record<string, string>;
  let stacksDir: string;

  before(async () => {
    await ensureBaseImage(docker);
    await removeProject(docker, SLOW);
    stacksDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-prod-stacks-'));
    fs.mkdirSync(path.join(stacksDir, 'demo'));
    fs.copyFileSync(path.join(REPO_ROOT, 'examples', 'demo', 'docker-compose.yml'), path.join(stacksDir, 'demo', 'docker-compose.yml'));
    fs.mkdirSync(path.join(stacksDir, SLOW));
    fs.writeFileSync(path.join(stacksDir, SLOW, 'compose.yaml'), slowStack());
    // The key file, as an operator keeps it: 0600, not in the repository.
    const keyFile = path.join(stacksDir, 'encryption.key');
    fs.writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    env = {
      DOCKFLOW_STACKS_DIR: stacksDir,
      TEMPORAL_HOST_PORT: String(await freePort()),
      TEMPORAL_UI_HOST_PORT: String(await freePort()),
      DOCKFLOW_METRICS_HOST_PORT: String(await freePort()),
      DOCKFLOW_CODEC_HOST_PORT: String(await freePort()),
      // The worker, the codec server and the CLI (demo and below) all read it.
      DOCKFLOW_ENCRYPTION_KEY_FILE: keyFile,
    };
    const up = await script('up', env, 1_200_000);
    assert.equal(up.code, 0, up.output);
  });

  after(async () => {
    await removeProject(docker, SLOW);
    if (env) await script('down', env, 300_000);
    if (stacksDir) fs.rmSync(stacksDir, { recursive: true, force: true });
  });

  it('runs the cluster from docker-compose.temporal.yml: PostgreSQL, a finished schema job, Temporal, the UI, the worker image', async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${CLUSTER}`] } });
    const byService = new Map(containers.map((c) => [c.Labels['com.docker.compose.service'], c]));
    assert.deepEqual([...byService.keys()].sort(), ['codec', 'postgresql', 'temporal', 'temporal-schema', 'temporal-ui', 'worker']);
    const schema = await docker.getContainer(byService.get('temporal-schema')!.Id).inspect();
    assert.equal(schema.State.ExitCode, 0);
    const temporal = await docker.getContainer(byService.get('temporal')!.Id).inspect();
    assert.equal(temporal.State.Health?.Status, 'healthy');
    const worker = await docker.getContainer(byService.get('worker')!.Id).inspect();
    assert.equal(worker.State.Running, true);
    assert.equal(worker.Config.Image, 'dockflow-worker:local');
    // The UI serves its page on the published port.
    const ui = await fetch(`http://127.0.0.1:${env.TEMPORAL_UI_HOST_PORT}/`);
    assert.equal(ui.status, 200);
  });

  it('deploys, lists and removes the demo stack through the cluster (npm run try-production)', async () => {
    const demo = await script('demo', env, 600_000);
    assert.equal(demo.code, 0, demo.output);
    assert.match(demo.output, /demo-production/);
    for (const service of ['db', 'api', 'web']) assert.match(demo.output, new RegExp(`demo-production-${service}-1`));
    assert.equal((await projectContainers(docker, 'demo-production')).length, 0, 'down removed the demo');
  });

  it('a deploy survives a restart of the Temporal server half-way: its history is in PostgreSQL', async () => {
    const cli = { TEMPORAL_ADDRESS: `127.0.0.1:${env.TEMPORAL_HOST_PORT}`, DOCKFLOW_ENCRYPTION_KEY_FILE: env.DOCKFLOW_ENCRYPTION_KEY_FILE };
    const started = await runCli(['deploy', '-d', '--json', '-f', path.join(stacksDir, SLOW, 'compose.yaml')], cli);
    assert.equal(started.code, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    // Half-way: the first service's container exists, the last one does not yet.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const names = (await projectContainers(docker, SLOW)).map((c) => c.Labels['com.docker.compose.service']);
      if (names.includes('db') && !names.includes('web')) break;
      if (Date.now() > deadline || names.includes('web')) throw new Error(`never caught the deploy half-way: ${names.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [temporal] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${CLUSTER}`, 'com.docker.compose.service=temporal'] } });
    await docker.getContainer(temporal.Id).restart({ t: 5 });
    // `watch` reconnects to the restarted server and follows the same workflow to its end.
    let watched = await runCli(['watch', workflowId, '--json'], cli, 300_000);
    for (let i = 0; i < 20 && watched.code !== 0 && /connect|unavailable|deadline/i.test(watched.stderr); i++) {
      await new Promise((r) => setTimeout(r, 3000));
      watched = await runCli(['watch', workflowId, '--json'], cli, 300_000);
    }
    assert.equal(watched.code, 0, `${watched.stdout}\n${watched.stderr}`);
    const containers = await projectContainers(docker, SLOW);
    assert.deepEqual(containers.map((c) => c.Labels['com.docker.compose.service']).sort(), ['api', 'db', 'web']);
    for (const c of containers) assert.equal((await docker.getContainer(c.Id).inspect()).State.Health?.Status, 'healthy');
  });

  it('the codec profile decodes for the UI what the worker encrypted; with a token file, only with the token, which no command line shows', async () => {
    const codecUrl = `http://127.0.0.1:${env.DOCKFLOW_CODEC_HOST_PORT}`;
    const uiOrigin = `http://127.0.0.1:${env.TEMPORAL_UI_HOST_PORT}`;
    // The UI tells the browser to decode through it.
    const settings = (await (await fetch(`${uiOrigin}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(settings.Codec?.Endpoint, codecUrl, JSON.stringify(settings));

    // A result the worker encrypted, as PostgreSQL holds it (a client without the key).
    const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_HOST_PORT}` });
    let payload: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null };
    try {
      const client = new Client({ connection });
      const [deploy] = await collect(client.workflow.list({ query: `WorkflowType = 'deploy' AND ExecutionStatus = 'Completed' AND DockflowProject = '${SLOW}'` }));
      assert.ok(deploy, `a completed deploy of ${SLOW}`);
      const history = await client.workflow.getHandle(deploy.workflowId).fetchHistory();
      const completed = history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!;
      payload = completed.workflowExecutionCompletedEventAttributes!.result!.payloads![0];
    } finally {
      await connection.close();
    }
    assert.equal(Buffer.from(payload.metadata!.encoding!).toString(), 'binary/encrypted');
    assert.ok(!Buffer.from(payload.data!).includes(SLOW), 'the stored result is ciphertext');
    const body = JSON.stringify({
      payloads: [{ metadata: Object.fromEntries(Object.entries(payload.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(payload.data!).toString('base64') }],
    });
    const decode = (headers: Record<string, string>) => fetch(`${codecUrl}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: uiOrigin, ...headers }, body });
    const decoded = await decode({});
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), uiOrigin, 'the UI\'s origin may call it');
    const [plain] = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    assert.equal(Buffer.from(plain.metadata.encoding, 'base64').toString(), 'json/plain');
    assert.equal((JSON.parse(Buffer.from(plain.data, 'base64').toString()) as { project?: string }).project, SLOW);

    // With a token file: the service is recreated, and answers only with the token.
    const token = randomBytes(24).toString('hex');
    const tokenFile = path.join(stacksDir, 'codec.token');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const recreated = await script('codec', { ...env, DOCKFLOW_CODEC_TOKEN_FILE: tokenFile }, 300_000);
    assert.equal(recreated.code, 0, recreated.output);
    assert.equal((await decode({})).status, 401);
    assert.equal((await decode({ Authorization: 'Bearer wrong' })).status, 401);
    const withToken = await decode({ Authorization: `Bearer ${token}` });
    assert.equal(withToken.status, 200);
    assert.deepEqual(((await withToken.json()) as { payloads: unknown[] }).payloads, [plain]);
    // Neither the container's configuration nor any process's command line holds it.
    const [codec] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${CLUSTER}`, 'com.docker.compose.service=codec'] } });
    const inspected = await docker.getContainer(codec.Id).inspect();
    assert.ok(!JSON.stringify([inspected.Config, inspected.Args, inspected.Path]).includes(token), 'the token is not in the container\'s configuration');
    const commandLines = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    });
    const server = commandLines.filter((c) => c.includes('codec-server'));
    assert.ok(server.some((c) => c.includes('--token-file\0/run/secrets/dockflow_codec_token')), `the codec server reads the token from the secret: ${server.join(' | ')}`);
    assert.ok(!commandLines.some((c) => c.includes(token)), 'no command line holds the token');
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
