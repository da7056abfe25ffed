/**
 * `dockflow deploy` without the Temporal SDK (issue 17: src/cli/light-operation.ts).
 * Against a fake Temporal (node:http2, messages encoded by the SDK's own
 * protobuf definitions): a single-host deploy is started, followed and read
 * through the light client, prints the same progress lines and result as the
 * SDK path, takes its last progress from the result instead of querying the
 * closed workflow, and loads no Temporal SDK module.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { temporal } from '@temporalio/proto';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SDK = ['@temporalio/client', '@temporalio/proto', '@grpc/grpc-js', '@temporalio/common'];
const ws = temporal.api.workflowservice.v1;
const json = (value: unknown) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) });

type Answer = Uint8Array | { status: number; message: string };

/** A gRPC server whose handlers may answer later (a long poll); every request kept, by method. */
function fakeTemporal(handlers: Record<string, (request: Buffer) => Promise<Answer> | Answer>) {
  const asked: { method: string; request: Buffer }[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const method = String(headers[':path']).split('/').at(-1)!;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('end', async () => {
      const body = Buffer.concat(chunks);
      const request = body.subarray(5, 5 + body.readUInt32BE(1));
      asked.push({ method, request });
      const answer = handlers[method] ? await handlers[method](request) : { status: 12, message: `${method} not implemented` };
      if (stream.destroyed) return;
      const failed = !(answer instanceof Uint8Array);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': failed ? String(answer.status) : '0', 'grpc-message': failed ? encodeURIComponent(answer.message) : '' }));
      if (failed) return stream.end();
      const frame = Buffer.alloc(5 + answer.length);
      frame.writeUInt32BE(answer.length, 1);
      Buffer.from(answer).copy(frame, 5);
      stream.end(frame);
    });
  });
  return { server, asked };
}

/** `dockflow <args>` from the sources in a child (this process's servers answer it); the SDK modules it loaded. */
function runCli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; loaded: string[] }> {
  const script = `
    const { main } = require(${JSON.stringify(path.join(REPO_ROOT, 'src', 'cli', 'main'))});
    main(['node', 'dockflow', ...${JSON.stringify(args)}]).then((code) => {
      const loaded = ${JSON.stringify(SDK)}.filter((name) => Object.keys(require.cache).some((file) => file.includes('/node_modules/' + name + '/')));
      process.stdout.write('\\nLOADED ' + JSON.stringify({ loaded, code }) + '\\n');
    });`;
  // tsx resolved from here: the child runs in the project's directory, where `--import tsx` would not find it.
  const child = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, '-e', script], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

describe('dockflow deploy through the light client', () => {
  it('starts, follows and prints a single-host deploy without the SDK, its last progress from the result', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-deploy-light-'));
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), 'name: shop\nservices:\n  web:\n    image: dockflow/busybox:1\n');
    const title = 'create shop-web-1 (missing)';
    const running = { operation: 'deploy', project: 'shop', phase: 'executing', steps: [{ id: 1, title, state: 'running', startedAt: 1000 }] };
    const done = { ...running, phase: 'done', steps: [{ id: 1, title, state: 'done', startedAt: 1000, finishedAt: 2500 }] };
    const result = { project: 'shop', dryRun: false, plan: `${title}`, operations: 1, services: { web: ['shop-web-1'] }, warnings: [], revision: 1, finalProgress: done };
    let answeredQuery: () => void = () => undefined;
    const queried = new Promise<void>((resolve) => (answeredQuery = resolve));
    const { server, asked } = fakeTemporal({
      ListWorkflowExecutions: () => ws.ListWorkflowExecutionsResponse.encode({}).finish(),
      StartWorkflowExecution: () => ws.StartWorkflowExecutionResponse.encode({ runId: 'run-1' }).finish(),
      QueryWorkflow: () => {
        // Answered once the CLI shows it; the run closes after the first answer.
        setTimeout(answeredQuery, 50);
        return ws.QueryWorkflowResponse.encode({ queryResult: { payloads: [json(running)] } }).finish();
      },
      GetWorkflowExecutionHistory: async () => {
        await queried;
        return ws.GetWorkflowExecutionHistoryResponse.encode({
          history: { events: [{ eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: [json(result)] } } }] },
        }).finish();
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const run = await runCli(['deploy', '-f', 'docker-compose.yml'], dir, { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, DOCKFLOW_TASK_QUEUE: 'q-light' });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^deploying \(workflow deploy-shop-\d{8}-\d{6}-\d{3}\)$/m);
      // The step once running (from the query), once done (from the result's finalProgress), as the SDK path prints them.
      assert.match(run.stderr, /^… create shop-web-1 \(missing\)\n✔ create shop-web-1 \(missing\) 1\.5s$/m);
      assert.equal(run.stdout.trim(), `shop: 1 operation(s) applied, now at revision 1\n${title}`);
      assert.deepEqual(run.loaded, [], 'no Temporal SDK module loaded');
      const methods = asked.map((a) => a.method);
      assert.equal(methods.filter((m) => m === 'QueryWorkflow').length, 1, `the closed workflow was queried: ${methods.join(', ')}`);
      // What was started: the deploy on the configured queue, its input the loaded spec (plain JSON without keys).
      const start = ws.StartWorkflowExecutionRequest.decode(asked.find((a) => a.method === 'StartWorkflowExecution')!.request);
      assert.equal(start.workflowType?.name, 'deploy');
      assert.equal(start.taskQueue?.name, 'q-light');
      assert.match(start.workflowId!, /^deploy-shop-/);
      const input = JSON.parse(Buffer.from(start.input!.payloads![0].data!).toString('utf8'));
      assert.equal(input.spec.project, 'shop');
      assert.deepEqual([input.dryRun, input.wait, input.hosts], [false, true, undefined]);
    } finally {
      server.close();
    }
  });

  it('--json prints the result without finalProgress, named by workflow and run ID', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-deploy-light-'));
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), 'name: shop\nservices:\n  web:\n    image: dockflow/busybox:1\n');
    const result = { project: 'shop', dryRun: false, plan: 'p', operations: 0, services: {}, warnings: [], revision: 3, finalProgress: { operation: 'deploy', project: 'shop', phase: 'done', steps: [] } };
    const { server, asked } = fakeTemporal({
      ListWorkflowExecutions: () => ws.ListWorkflowExecutionsResponse.encode({}).finish(),
      StartWorkflowExecution: () => ws.StartWorkflowExecutionResponse.encode({ runId: 'run-7' }).finish(),
      GetWorkflowExecutionHistory: () =>
        ws.GetWorkflowExecutionHistoryResponse.encode({
          history: { events: [{ eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: [json(result)] } } }] },
        }).finish(),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const run = await runCli(['deploy', '--json'], dir, { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
      assert.equal(run.code, 0, run.stderr);
      const printed = JSON.parse(run.stdout);
      assert.match(printed.workflowId, /^deploy-shop-/);
      assert.equal(printed.runId, 'run-7');
      assert.equal(printed.revision, 3);
      assert.equal('finalProgress' in printed, false);
      assert.equal(asked.some((a) => a.method === 'QueryWorkflow'), false, '--json asks no progress');
      assert.deepEqual(run.loaded, []);
    } finally {
      server.close();
    }
  });
});
