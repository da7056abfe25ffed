/**
 * `dockflow dev` (what `npm start` runs) is secure by default: it creates an
 * encryption key on first start (0600, in a 0700 directory), reuses it on
 * the next, encrypts every payload, and CLI commands started in the same
 * directory find the key. A deploy whose environment holds an API_KEY leaves
 * no trace of it in any workflow history as Temporal stores it (read with a
 * plain client, no codec: raw bytes and base64) nor in the server's SQLite
 * file, while `dockflow deploy` and `dockflow ps` work. The same deploy under
 * `--insecure-plain-payloads` is found by the same check, so the check can
 * fail. A production worker without a key warns at start what it exposes.
 *
 * Everything runs as separate processes (`dockflow dev`, the CLI, `dockflow
 * worker`) against the real Docker engine.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type Docker from 'dockerode';
import { ensureBaseImage } from '../../src/demo/base-image';
import { PLAIN_PAYLOADS_WARNING } from '../../workers/main';
import { dockerOrFail, freePort, killHard, removeProject, REPO_ROOT, runCli, workflowBundlePath } from '../support/harness';

const ENCRYPTED = 'securedev';
const PLAIN = 'securedevplain';
/** Keys a developer may have exported stay out of these processes: the test is about the defaults. */
const NO_KEY_ENV = { DOCKFLOW_ENCRYPTION_KEY: '', DOCKFLOW_ENCRYPTION_KEY_FILE: '' };

interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** A `dockflow` process kept running until `ready` shows in its output; stop() sends SIGINT, as Ctrl-C does. */
async function startProcess(args: string[], options: { cwd: string; env: Record<string, string>; ready: string }): Promise<RunningProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...NO_KEY_ENV, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dockflow ${args.join(' ')} did not get ready within 180 s:\n${output}`)), 180_000);
    const check = () => {
      if (output.includes(options.ready)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        child.off('exit', exited);
        resolve();
      }
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`dockflow ${args.join(' ')} exited with ${code} before it was ready:\n${output}`));
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.on('exit', exited);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, output: () => output, stop };
}

async function startDev(cwd: string, extra: string[] = []) {
  const [port, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
  const dev = await startProcess(['dev', '--port', String(port), '--ui-port', String(uiPort), '--codec-port', String(codecPort), ...extra], {
    cwd,
    env: {},
    ready: 'worker polling task queue',
  });
  return { ...dev, address: `127.0.0.1:${port}`, uiPort, codecPort };
}

/** The secret as it would appear base64-encoded at any byte alignment (the full groups that depend on it only). */
function base64Forms(secret: string): string[] {
  return [0, 1, 2].map((pad) => {
    const encoded = Buffer.concat([Buffer.alloc(pad), Buffer.from(secret)]).toString('base64');
    const fullGroups = Math.floor((pad + secret.length) / 3) * 4;
    return encoded.slice(pad === 0 ? 0 : 4, fullGroups);
  });
}

function mentions(bytes: Buffer, secret: string): string[] {
  return [secret, ...base64Forms(secret)].filter((form) => bytes.includes(Buffer.from(form)));
}

/**
 * Every workflow history on the server as Temporal stores it: protobuf bytes
 * fetched with a plain connection (no data converter, no codec).
 */
async function allHistoryBytes(address: string): Promise<{ workflows: string[]; bytes: Buffer }> {
  const connection = await Connection.connect({ address });
  try {
    const workflows: string[] = [];
    const chunks: Buffer[] = [];
    const { executions } = await connection.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1000 });
    for (const execution of executions ?? []) {
      workflows.push(`${execution.type?.name}:${execution.execution?.workflowId}`);
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await connection.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: execution.execution, nextPageToken });
        chunks.push(Buffer.from(temporal.api.history.v1.History.encode(page.history ?? {}).finish()));
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
    }
    return { workflows, bytes: Buffer.concat(chunks) };
  } finally {
    await connection.close();
  }
}

/** The dev server's SQLite database and its write-ahead log, as they lie on disk. */
function databaseBytes(stateDir: string): Buffer {
  return Buffer.concat(['temporal.db', 'temporal.db-wal'].map((f) => path.join(stateDir, f)).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

function relayStack(dir: string, project: string, secret: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'compose.yaml');
  fs.writeFileSync(
    file,
    `name: ${project}
services:
  relay:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    environment:
      API_KEY: "${secret}"
`,
  );
  return file;
}

describe('dockflow dev encrypts payloads by default', () => {
  let docker: Docker;
  const secret = `securedev-api-key-${randomBytes(12).toString('hex')}`;
  const running: RunningProcess[] = [];
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-dev-'));
  const tempDirs = [workdir];
  const stateDir = path.join(workdir, '.dockflow');
  const keyFile = path.join(stateDir, 'keys', 'encryption.key');
  let firstKey = '';

  before(async () => {
    docker = await dockerOrFail();
    await ensureBaseImage(docker);
    for (const p of [ENCRYPTED, PLAIN]) await removeProject(docker, p);
  });

  after(async () => {
    for (const p of running) await p.stop();
    for (const p of [ENCRYPTED, PLAIN]) {
      await removeProject(docker, p);
      await docker.getImage(`dockflow-revision/${p}-relay:r1`).remove().catch(() => undefined);
    }
    // The plain run's database holds the test secret in clear: leave nothing behind.
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('first start: creates the key (0600 in a 0700 directory), deploys through the CLI, and no history holds the API_KEY', async () => {
    const dev = await startDev(workdir);
    running.push(dev);
    assert.match(dev.output(), new RegExp(`payloads: +encrypted with ${keyFile.replace(/[.]/g, '\\.')} \\(created now\\)`));
    assert.ok(dev.output().includes(`export DOCKFLOW_ENCRYPTION_KEY_FILE=${keyFile}`), dev.output());
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(keyFile)).mode & 0o777, 0o700);
    firstKey = fs.readFileSync(keyFile, 'utf8');

    // The CLI runs in the same directory with no key configured: it finds the dev key itself.
    const compose = relayStack(path.join(workdir, 'relay'), ENCRYPTED, secret);
    const env = { ...NO_KEY_ENV, TEMPORAL_ADDRESS: dev.address };
    const deploy = await runCli(['deploy', '-f', compose, '--json'], env, 240_000, workdir);
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.equal(JSON.parse(deploy.stdout).project, ENCRYPTED);
    const info = await docker.getContainer(`${ENCRYPTED}-relay-1`).inspect();
    assert.ok(info.Config.Env.includes(`API_KEY=${secret}`), 'the container got the value');
    const ps = await runCli(['ps', '-p', ENCRYPTED, '--json'], env, 240_000, workdir);
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(JSON.parse(ps.stdout).revision?.number, 1, 'ps decodes the history workflow\'s encrypted result');

    const { workflows, bytes } = await allHistoryBytes(dev.address);
    assert.ok(workflows.some((w) => w.startsWith('deploy:')), workflows.join(', '));
    assert.deepEqual(mentions(bytes, secret), [], `the API_KEY is in no history of ${workflows.join(', ')}`);
    assert.ok(bytes.includes(Buffer.from('binary/encrypted')), 'payloads are marked encrypted');

    // The UI is pointed at the codec server, which decodes the deploy's input back to the value.
    const settings = (await (await fetch(`http://127.0.0.1:${dev.uiPort}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(settings.Codec?.Endpoint, `http://127.0.0.1:${dev.codecPort}`);
    const connection = await Connection.connect({ address: dev.address });
    try {
      const { executions } = await connection.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowType = 'deploy'` });
      const history = await connection.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: executions![0].execution });
      const input = history.history!.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
      // The UI's request: metadata values and data in base64.
      const payloads = input.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(p.data ?? []).toString('base64'),
      }));
      const body = JSON.stringify({ payloads });
      const decoded = await fetch(`http://127.0.0.1:${dev.codecPort}/decode`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      assert.equal(decoded.status, 200);
      assert.ok(Buffer.from(((await decoded.json()) as { payloads: { data: string }[] }).payloads[0].data, 'base64').toString().includes(secret));
    } finally {
      await connection.close();
    }

    await dev.stop();
    assert.deepEqual(mentions(databaseBytes(stateDir), secret), [], "nor is it anywhere in the dev server's database file");
  });

  it('second start: reuses the key, and the CLI still reads what the first start wrote', async () => {
    assert.ok(firstKey, 'the first start ran');
    const dev = await startDev(workdir);
    running.push(dev);
    assert.match(dev.output(), /\(reused\)/);
    assert.equal(fs.readFileSync(keyFile, 'utf8'), firstKey);
    const ps = await runCli(['ps', '-p', ENCRYPTED, '--json'], { ...NO_KEY_ENV, TEMPORAL_ADDRESS: dev.address }, 240_000, workdir);
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(JSON.parse(ps.stdout).revision?.number, 1);
    await dev.stop();
  });

  it('--insecure-plain-payloads: no key, and the same check finds the API_KEY in the history (the check can fail)', async () => {
    const plainDir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-dev-plain-'));
    tempDirs.push(plainDir);
    const dev = await startDev(plainDir, ['--insecure-plain-payloads']);
    running.push(dev);
    assert.match(dev.output(), /payloads: +PLAIN \(--insecure-plain-payloads\)/);
    assert.equal(fs.existsSync(path.join(plainDir, '.dockflow', 'keys', 'encryption.key')), false);
    const compose = relayStack(path.join(plainDir, 'relay'), PLAIN, secret);
    const deploy = await runCli(['deploy', '-f', compose, '--json'], { ...NO_KEY_ENV, TEMPORAL_ADDRESS: dev.address }, 240_000, plainDir);
    assert.equal(deploy.code, 0, deploy.stderr);
    const { bytes } = await allHistoryBytes(dev.address);
    assert.ok(mentions(bytes, secret).length > 0, 'plain payloads carry the API_KEY');
    await dev.stop();
    assert.ok(mentions(databaseBytes(path.join(plainDir, '.dockflow')), secret).length > 0, 'and the database file holds it');
  });
});

describe('dockflow worker without a key', () => {
  it('warns at start what it exposes; with a key it does not', async () => {
    const serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-dev-worker-'));
    const server = await startDev(serverDir, ['--insecure-plain-payloads']);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-worker-state-'));
    // Its own task queue: the dev server's worker keeps "dockflow".
    const env = { TEMPORAL_ADDRESS: server.address, DOCKFLOW_TASK_QUEUE: 'secure-warn', DOCKFLOW_STATE_DIR: stateDir };
    try {
      const plain = await startProcess(['worker'], { cwd: REPO_ROOT, env: { ...env, DOCKFLOW_WORKFLOW_BUNDLE: await workflowBundlePath() }, ready: 'polling task queue' });
      await killHard(plain.child);
      assert.ok(plain.output().includes(PLAIN_PAYLOADS_WARNING), plain.output());
      assert.match(plain.output(), /environment values of every\s+stack .* stored in Temporal's\s+history, readable by anyone with access to Temporal/s);

      const keyFile = path.join(stateDir, 'key');
      fs.writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      const keyed = await startProcess(['worker'], {
        cwd: REPO_ROOT,
        env: { ...env, DOCKFLOW_ENCRYPTION_KEY_FILE: keyFile, DOCKFLOW_WORKFLOW_BUNDLE: await workflowBundlePath({ encrypted: true }) },
        ready: 'polling task queue',
      });
      await killHard(keyed.child);
      assert.ok(!keyed.output().includes('WARNING'), keyed.output());
    } finally {
      await server.stop();
      for (const dir of [serverDir, stateDir]) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
