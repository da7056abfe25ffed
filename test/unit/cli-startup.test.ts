/**
 * CLI start-up cost (issue 17): bin/dockflow.js runs the compiled CLI only
 * while dist/ was built from the sources in the checkout, and a command loads
 * only the modules it needs: `--help` and usage errors load neither the
 * Temporal SDK, dockerode, the compose loader nor zod.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import * as http2 from 'node:http2';
import { defineQuery } from '@temporalio/workflow';
import { temporal } from '@temporalio/proto';
import { STAMP_FILE, cliEntry, isBuildFresh, listSources, stampOf } from '../../bin/build-stamp';
import { progressQuery } from '../../src/messages';
import { packageRoot } from '../../src/files/package-root';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** A package root with one source per compiled folder and a stamp of them, as scripts/build.js leaves it. */
function builtTree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-startup-'));
  for (const file of ['src/cli/main.ts', 'src/model/spec.ts', 'workflows/index.ts', 'activities/index.ts', 'workers/main.ts', 'src/types/x.d.ts']) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), `// ${file}\n`);
  }
  fs.mkdirSync(path.join(root, 'dist'));
  fs.writeFileSync(path.join(root, STAMP_FILE), JSON.stringify(stampOf(root, listSources(root))));
  return root;
}

describe('bin/dockflow.js: compiled CLI only while it matches the sources', () => {
  it('lists the compiled sources of every folder, without declaration files', () => {
    const root = builtTree();
    assert.deepEqual(listSources(root), ['activities/index.ts', 'src/cli/main.ts', 'src/model/spec.ts', 'workers/main.ts', 'workflows/index.ts']);
  });

  it('runs dist/ after a build of the same sources, the sources when DOCKFLOW_FROM_SOURCE=1', () => {
    const root = builtTree();
    assert.equal(isBuildFresh(root), true);
    assert.deepEqual(cliEntry(root, {}), { compiled: true, file: path.join(root, 'dist', 'src', 'cli', 'main.js') });
    assert.deepEqual(cliEntry(root, { DOCKFLOW_FROM_SOURCE: '1' }), { compiled: false, file: path.join(root, 'src', 'cli', 'main.ts') });
  });

  const staleAfter: [string, (root: string) => void][] = [
    ['a source is edited (same size)', (root) => {
      const file = path.join(root, 'workflows/index.ts');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('w', 'W'));
      const later = new Date(Date.now() + 5_000);
      fs.utimesSync(file, later, later);
    }],
    ['a source grows (same mtime)', (root) => {
      const file = path.join(root, 'src/model/spec.ts');
      const { atime, mtime } = fs.statSync(file);
      fs.appendFileSync(file, 'export const x = 1;\n');
      fs.utimesSync(file, atime, mtime);
    }],
    ['a source is added', (root) => fs.writeFileSync(path.join(root, 'activities/new.ts'), '\n')],
    ['a source is removed', (root) => fs.rmSync(path.join(root, 'workers/main.ts'))],
    ['there is no stamp (never built, or a build in progress)', (root) => fs.rmSync(path.join(root, STAMP_FILE))],
    ['the stamp is not JSON', (root) => fs.writeFileSync(path.join(root, STAMP_FILE), '{')],
    ['a source folder is gone', (root) => fs.rmSync(path.join(root, 'activities'), { recursive: true })],
  ];
  for (const [what, change] of staleAfter) {
    it(`runs the TypeScript sources when ${what}`, () => {
      const root = builtTree();
      change(root);
      assert.equal(isBuildFresh(root), false);
      assert.deepEqual(cliEntry(root, {}), { compiled: false, file: path.join(root, 'src', 'cli', 'main.ts') });
    });
  }

  it('from the sources, a command whose modules load lazily (import()) still runs', () => {
    // `deploy` loads the compose loader with import(); under a require-only
    // hook that import() failed with "Cannot find module", whatever the input.
    const missing = path.join(os.tmpdir(), `cli-startup-missing-${process.pid}.yml`);
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'deploy', '-p', 'startup', '-f', missing], {
      env: { ...process.env, DOCKFLOW_FROM_SOURCE: '1', NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /compose file not found/);
    assert.doesNotMatch(run.stderr, /Cannot find module/);
  });

  it('from the sources, runs from any directory (tsx is found beside the CLI, not in the current directory)', () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-startup-cwd-'));
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), '--help'], {
      cwd: elsewhere,
      env: { ...process.env, DOCKFLOW_FROM_SOURCE: '1', NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Usage: dockflow/);
  });
});

/** Modules whose loading cost 0.1 to 0.3 s each; a command that needs none must not load them. */
const HEAVY = ['@temporalio/client', '@temporalio/worker', '@temporalio/workflow', '@temporalio/proto', 'dockerode', 'zod', 'yaml', '@aws-sdk/client-s3'];

/** Runs `dockflow <args>` from the TypeScript sources in a fresh process and lists the heavy packages it loaded. */
function heavyModulesLoadedBy(args: string[]): { loaded: string[]; code: number | null; stdout: string } {
  const script = `
    const { main } = require('./src/cli/main');
    main(['node', 'dockflow', ...${JSON.stringify(args)}]).then((code) => {
      const loaded = ${JSON.stringify(HEAVY)}.filter((name) =>
        Object.keys(require.cache).some((file) => file.includes('/node_modules/' + name + '/')));
      process.stdout.write('\\nLOADED ' + JSON.stringify({ loaded, code }) + '\\n');
    });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, `no result from the child: ${r.stderr}`);
  return { ...JSON.parse(line.slice('LOADED '.length)), stdout: r.stdout };
}

describe('dockflow: a command loads only what it needs', () => {
  it('--help loads no Temporal SDK, dockerode, compose loader or zod', () => {
    const { loaded, code, stdout } = heavyModulesLoadedBy(['--help']);
    assert.match(stdout, /Usage: dockflow/);
    assert.equal(code, 0);
    assert.deepEqual(loaded, []);
  });

  it('a subcommand\'s --help and a usage error load none of them either', () => {
    const help = heavyModulesLoadedBy(['deploy', '--help']);
    assert.match(help.stdout, /--remove-orphans/);
    assert.deepEqual(help.loaded, []);
    const bad = heavyModulesLoadedBy(['update', '-p', '../x', 'web']);
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.loaded, []);
  });
});

describe('dockflow ps on a host without compose projects', () => {
  it('answers without connecting to Temporal (which may not answer at all)', async () => {
    // A Docker endpoint with no containers (the shared test engine always has some) and a
    // Temporal address that counts connections: ps must not wait for one it has nothing to ask.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-startup-ps-'));
    const socket = path.join(dir, 'docker.sock');
    const requests: string[] = [];
    const dockerApi = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.setHeader('Content-Type', 'application/json');
      res.end(req.url?.includes('/containers/json') ? '[]' : '{}');
    });
    await new Promise<void>((resolve) => dockerApi.listen(socket, resolve));
    let temporalConnections = 0;
    const temporal = net.createServer((conn) => {
      temporalConnections++;
      conn.destroy();
    });
    await new Promise<void>((resolve) => temporal.listen(0, '127.0.0.1', resolve));
    const port = (temporal.address() as net.AddressInfo).port;
    try {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'ps', '--json'], {
        env: { ...process.env, DOCKER_HOST: `unix://${socket}`, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), []);
      assert.ok(requests.some((r) => r.startsWith('GET ') && r.includes('/containers/json')), `no container listing: ${requests.join(', ')}`);
      assert.equal(temporalConnections, 0);
    } finally {
      dockerApi.close();
      temporal.close();
    }
  });
});

/** Runs `dockflow <args>` from the sources in a child that does not block this process (its servers answer it). */
function heavyModulesLoadedByAsync(args: string[], env: Record<string, string>): Promise<{ loaded: string[]; code: number | null; stdout: string; stderr: string }> {
  const script = `
    const { main } = require('./src/cli/main');
    main(['node', 'dockflow', ...${JSON.stringify(args)}]).then((code) => {
      const loaded = ${JSON.stringify(HEAVY)}.filter((name) =>
        Object.keys(require.cache).some((file) => file.includes('/node_modules/' + name + '/')));
      process.stdout.write('\\nLOADED ' + JSON.stringify({ loaded, code }) + '\\n');
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('exit', () => {
      const line = stdout.split('\n').find((l) => l.startsWith('LOADED '));
      if (!line) return reject(new Error(`no result from the child: ${stderr}`));
      resolve({ ...JSON.parse(line.slice('LOADED '.length)), stdout: stdout.slice(0, stdout.indexOf('\nLOADED ')), stderr });
    });
  });
}

describe('dockflow ps -p of a deployed project', () => {
  it('answers from the engine and Temporal (revision, no operation running) without loading the Temporal SDK', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-startup-ps-'));
    const socket = path.join(dir, 'docker.sock');
    const labels = { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web', 'com.docker.compose.container-number': '1', 'com.docker.compose.oneoff': 'False' };
    const dockerApi = http.createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      if (req.url?.startsWith('/containers/json')) res.end(JSON.stringify([{ Id: 'c1', Names: ['/shop-web-1'], Labels: labels, ImageID: 'sha256:0123456789abcdef', State: 'running', Status: 'Up 2 minutes' }]));
      else if (req.url?.startsWith('/volumes')) res.end('{"Volumes":[]}');
      else res.end('[]');
    });
    await new Promise<void>((resolve) => dockerApi.listen(socket, resolve));
    // Temporal, as the light client asks it: nothing running, no registered host, the history workflow's result.
    const ws = temporal.api.workflowservice.v1;
    const asked: string[] = [];
    const entry = { number: 4, operation: 'update', createdAt: '2026-11-30T12:00:00.000Z', workflowId: 'update-shop-1', changes: [] };
    const answers: Record<string, Uint8Array> = {
      ListWorkflowExecutions: ws.ListWorkflowExecutionsResponse.encode({}).finish(),
      StartWorkflowExecution: ws.StartWorkflowExecutionResponse.encode({ runId: 'run-1' }).finish(),
      GetWorkflowExecutionHistory: ws.GetWorkflowExecutionHistoryResponse.encode({
        history: { events: [{ eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify([entry])) }] } } }] },
      }).finish(),
    };
    const temporalServer = http2.createServer();
    temporalServer.on('stream', (stream, headers) => {
      const method = String(headers[':path']).split('/').at(-1)!;
      asked.push(method);
      stream.on('data', () => undefined);
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': answers[method] ? '0' : '12' }));
        const body = answers[method];
        if (!body) return stream.end();
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        Buffer.from(body).copy(frame, 5);
        stream.end(frame);
      });
    });
    await new Promise<void>((resolve) => temporalServer.listen(0, '127.0.0.1', resolve));
    const port = (temporalServer.address() as net.AddressInfo).port;
    try {
      const run = await heavyModulesLoadedByAsync(['ps', '-p', 'shop', '--json'], { DOCKER_HOST: `unix://${socket}`, TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
      assert.equal(run.code, 0, run.stderr);
      const status = JSON.parse(run.stdout);
      assert.deepEqual(status.revision, { number: 4, operation: 'update', createdAt: entry.createdAt, workflowId: entry.workflowId });
      assert.deepEqual(status.running, []);
      assert.equal(status.unknown, undefined);
      assert.deepEqual(status.containers.map((c: { container: string; state: string }) => [c.container, c.state]), [['shop-web-1', 'running']]);
      assert.deepEqual(asked.sort(), ['GetWorkflowExecutionHistory', 'ListWorkflowExecutions', 'ListWorkflowExecutions', 'StartWorkflowExecution']);
      assert.deepEqual(run.loaded, []);
    } finally {
      dockerApi.close();
      temporalServer.close();
    }
  });
});

describe('shared definitions written out for start-up speed', () => {
  it('progressQuery is what defineQuery(\'progress\') returns', () => {
    assert.deepEqual({ ...progressQuery }, { ...defineQuery('progress') });
  });

  it('packageRoot finds package.json from the sources and from dist/', () => {
    assert.equal(packageRoot(path.join(REPO_ROOT, 'src', 'cli')), REPO_ROOT);
    assert.equal(packageRoot(path.join(REPO_ROOT, 'dist', 'src', 'cli')), REPO_ROOT);
  });
});
