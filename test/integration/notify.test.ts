/**
 * Notifications on real Docker and a real Temporal server, against a local
 * HTTP receiver that is down, then refuses, then accepts; a command target;
 * and a worker killed while a delivery is in flight.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { loadStack } from '../../src/compose';
import { progressQuery } from '../../src/messages';
import type { NotifyResult } from '../../workflows/notify';
import { freePort, killHard, projectDir, removeProject, REPO_ROOT, spawnWorker, startTestBed, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-notify';
const SECRET = 'notify-test-secret-0123456789abcdef';
const PROJECTS = ['notifyok', 'notifyfail', 'notifycancel'];

interface Received {
  status: number;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the receiver does with its next requests, in order; then it accepts (200). */
type Behaviour = 'refuse' | 'reject' | 'hold';

const compose = (project: string, extra: string) => `
name: ${project}
services:
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
${extra}
`;

describe('notifications', () => {
  let bed: TestBed;
  let worker: ChildProcess;
  let port: number;
  let server: http.Server | undefined;
  const received: Received[] = [];
  const behaviours: Behaviour[] = [];
  const held: http.ServerResponse[] = [];
  let heldArrived: () => void = () => undefined;
  const commandOut = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-cmd-'));
  const commandScript = path.join(commandOut, 'on-event.sh');
  let workerEnv: Record<string, string>;
  let metricsPort: number;

  const listen = () =>
    new Promise<void>((resolve) => {
      server = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          const behaviour = behaviours.shift();
          const status = behaviour === 'refuse' ? 503 : behaviour === 'reject' ? 404 : behaviour === 'hold' ? 0 : 200;
          received.push({ status, url: req.url ?? '', headers: req.headers, body });
          if (behaviour === 'hold') {
            held.push(res);
            heldArrived();
          } else res.writeHead(status).end(status === 200 ? 'ok' : status === 404 ? 'no such hook' : 'restarting');
        });
      });
      server.listen(port, '127.0.0.1', resolve);
    });

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    for (const p of PROJECTS) await removeProject(bed.docker, p);
    port = await freePort();
    // The command target records what it read on stdin, and its environment, under the idempotency key.
    fs.writeFileSync(commandScript, `#!/bin/sh\ncat > "${commandOut}/$DOCKFLOW_IDEMPOTENCY_KEY.json"\nenv > "${commandOut}/$DOCKFLOW_IDEMPOTENCY_KEY.env"\n`, { mode: 0o755 });
    workerEnv = {
      DOCKFLOW_NOTIFY: `http://127.0.0.1:${port}/hook?from=dockflow cmd://${commandScript}#events=failed,cancelled&operations=deploy`,
      DOCKFLOW_NOTIFY_SECRET: SECRET,
    };
    metricsPort = await freePort();
    // The receiver is down when the first operation ends.
    worker = await spawnWorker(bed, { ...workerEnv, DOCKFLOW_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` });
  });

  after(async () => {
    for (const res of held) res.destroy();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (worker) await killHard(worker);
    for (const p of PROJECTS) await removeProject(bed.docker, p);
    fs.rmSync(commandOut, { recursive: true, force: true });
    await bed?.teardown();
  });

  const specOf = (project: string, extra = '') => {
    const dir = projectDir(project, { 'docker-compose.yml': compose(project, extra) });
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };

  /** The delivery workflow of an operation's run (workflows/notify.ts names it). */
  const notifyHandle = async (workflowId: string) => {
    const { runId } = await bed.env.client.workflow.getHandle(workflowId).describe();
    return bed.env.client.workflow.getHandle(`${workflowId}-notify-${runId}`);
  };

  /** The requests of one event, checked: a valid signature over the exact bytes, the key in the body and the header. */
  const deliveriesOf = (workflowId: string) => {
    const requests = received.filter((r) => JSON.parse(r.body).workflowId === workflowId);
    for (const r of requests) {
      assert.equal(r.headers['x-dockflow-signature-256'], `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
      const body = JSON.parse(r.body);
      const expectedKey = createHash('sha256').update(`${body.workflowId}\n${body.runId}\n${body.event}`).digest('hex').slice(0, 32);
      assert.equal(body.idempotencyKey, expectedKey);
      assert.equal(r.headers['idempotency-key'], expectedKey);
      assert.equal(r.headers['x-dockflow-event'], body.event);
      assert.equal(r.headers['content-type'], 'application/json');
    }
    return requests;
  };

  it('a worker with a bad DOCKFLOW_NOTIFY does not start, and names the target and the bad part', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'workers', 'main.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: bed.address,
        DOCKFLOW_TASK_QUEUE: `${TASK_QUEUE}-never`,
        DOCKFLOW_NOTIFY: 'https://hooks.example.com/x slack+https://hooks.slack.com/services/T0/B0/TOPTOKEN#events=failed,finished',
        DOCKFLOW_NOTIFY_SECRET: SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /DOCKFLOW_NOTIFY target 2 \(slack https:\/\/hooks\.slack\.com\): events: "finished" is not one of completed, failed, cancelled/);
    assert.doesNotMatch(stderr, /TOPTOKEN/);
    assert.doesNotMatch(stderr, /polling task queue/);
  });

  it('a completed deploy is delivered once the receiver is back, exactly once, signed; the deploy does not wait for it', async () => {
    const started = Date.now();
    const result = (await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-ok', args: [{ spec: specOf('notifyok') }] })) as { revision: number };
    assert.equal(result.revision, 1);
    const operationSeconds = (Date.now() - started) / 1000;

    // The receiver is down: the delivery workflow retries, each failure in its history with the real cause.
    const notify = await notifyHandle('it-notify-ok');
    let lastFailure = '';
    for (let i = 0; i < 300 && !lastFailure; i++) {
      const pending = (await notify.describe()).raw.pendingActivities ?? [];
      if (pending[0]?.lastFailure?.message && (pending[0].attempt ?? 0) >= 2) lastFailure = pending[0].lastFailure.message;
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(lastFailure, /webhook http:\/\/127\.0\.0\.1:\d+ \(#1\): fetch failed \(ECONNREFUSED\)/);
    assert.doesNotMatch(lastFailure, /Docker engine/);

    // Back, but refusing once (503), then accepting.
    behaviours.push('refuse');
    await listen();
    assert.deepEqual((await notify.result()) as NotifyResult, { delivered: [`webhook http://127.0.0.1:${port} (#1)`], failed: [] });

    const requests = deliveriesOf('it-notify-ok');
    assert.deepEqual(requests.map((r) => r.status), [503, 200]);
    const body = JSON.parse(requests[1].body);
    const { runId } = await bed.env.client.workflow.getHandle('it-notify-ok').describe();
    assert.deepEqual(
      { ...body, startedAt: typeof body.startedAt, finishedAt: typeof body.finishedAt },
      {
        version: 1,
        event: 'completed',
        operation: 'deploy',
        project: 'notifyok',
        workflowId: 'it-notify-ok',
        runId,
        taskQueue: TASK_QUEUE,
        startedAt: 'string',
        finishedAt: 'string',
        revision: 1,
        idempotencyKey: body.idempotencyKey,
      },
    );
    // The receiver's own query string arrives; dockflow's options (the fragment) do not.
    assert.deepEqual(requests.map((r) => r.url), ['/hook?from=dockflow', '/hook?from=dockflow']);
    // The command target wants failed and cancelled deploys only.
    assert.equal(fs.existsSync(path.join(commandOut, `${body.idempotencyKey}.json`)), false);
    console.log(`deploy took ${operationSeconds.toFixed(1)} s while its receiver was down`);

    // A dry run notifies nobody.
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-dry', args: [{ spec: specOf('notifyok'), dryRun: true }] });
    await assert.rejects((await notifyHandle('it-notify-dry')).describe(), /not found/i);
  });

  it('a failed deploy sends "failed" with its cause to the webhook and the command', async () => {
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-fail', args: [{ spec: specOf('notifyfail', '    cap_add: [NET_ADMIN]') }] }),
      WorkflowFailedError,
    );
    const result = (await (await notifyHandle('it-notify-fail')).result()) as NotifyResult;
    assert.deepEqual(result.failed, []);
    assert.equal(result.delivered.length, 2);
    const [request] = deliveriesOf('it-notify-fail');
    assert.equal(deliveriesOf('it-notify-fail').length, 1);
    const body = JSON.parse(request.body);
    assert.equal(body.event, 'failed');
    assert.equal(body.project, 'notifyfail');
    assert.equal(body.error.type, 'PolicyRefused');
    assert.match(body.error.message, /cap_add\[0\]: NET_ADMIN is refused by the worker's policy/);
    // The command read the same body on stdin, with no worker secret in its environment.
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(commandOut, `${body.idempotencyKey}.json`), 'utf8')), body);
    const env = fs.readFileSync(path.join(commandOut, `${body.idempotencyKey}.env`), 'utf8');
    assert.match(env, /^DOCKFLOW_EVENT=failed$/m);
    assert.doesNotMatch(env, new RegExp(SECRET));
    assert.doesNotMatch(env, /DOCKFLOW_NOTIFY/);
  });

  it('a cancelled deploy sends "cancelled"', async () => {
    const spec = specOf('notifycancel', '    healthcheck: {test: ["CMD", "false"], interval: 1s, timeout: 1s, retries: 600}');
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-cancel', args: [{ spec, healthTimeoutSeconds: 600 }] });
    for (let i = 0; i < 600; i++) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      if (progress?.steps.some((s) => s.title.startsWith('wait healthy') && s.state === 'running')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    const result = (await (await notifyHandle('it-notify-cancel')).result()) as NotifyResult;
    assert.equal(result.delivered.length, 2);
    const requests = deliveriesOf('it-notify-cancel');
    assert.equal(requests.length, 1);
    assert.equal(JSON.parse(requests[0].body).event, 'cancelled');
    assert.equal(JSON.parse(requests[0].body).error, undefined);
  });

  it('an operation a Schedule started says so (scheduleId)', async () => {
    const scheduleId = 'it-notify-schedule';
    const schedule = await bed.env.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: 'down', taskQueue: TASK_QUEUE, args: [{ project: 'notifyfail' }] },
      state: { paused: true },
    });
    try {
      await schedule.trigger();
      let workflowId: string | undefined;
      for (let i = 0; i < 150 && !workflowId; i++) {
        const action = (await schedule.describe()).info.recentActions[0]?.action;
        workflowId = action?.type === 'startWorkflow' ? action.workflow.workflowId : undefined;
        if (!workflowId) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(workflowId, 'the schedule started no workflow');
      await bed.env.client.workflow.getHandle(workflowId).result();
      await (await notifyHandle(workflowId)).result();
      const [request] = deliveriesOf(workflowId);
      const body = JSON.parse(request.body);
      assert.equal(body.operation, 'down');
      assert.equal(body.event, 'completed');
      assert.equal(body.scheduleId, scheduleId);
    } finally {
      await schedule.delete();
    }
  });

  it('a receiver that refuses for good (404): the operation still completes; the loss is in the history, the result and the metrics', async () => {
    behaviours.push('reject');
    const result = (await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-rejected', args: [{ spec: specOf('notifyok') }] })) as { revision: number };
    assert.equal(result.revision, 1);
    const notify = await notifyHandle('it-notify-rejected');
    const outcome = (await notify.result()) as NotifyResult;
    assert.deepEqual(outcome.delivered, []);
    assert.equal(outcome.failed.length, 1);
    assert.match(outcome.failed[0].message, /webhook http:\/\/127\.0\.0\.1:\d+ \(#1\) answered HTTP 404: no such hook \(not retried: check the URL and the secret\)/);
    assert.deepEqual(deliveriesOf('it-notify-rejected').map((r) => r.status), [404]);
    // The delivery workflow's history holds the activity's failure.
    const history = await notify.fetchHistory();
    const failed = history.events!.filter((e) => e.activityTaskFailedEventAttributes);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].activityTaskFailedEventAttributes!.failure!.applicationFailureInfo!.type, 'NotificationRejected');

    // Every attempt and every outcome is counted on the worker's metrics (all the operations of the tests above ran on this worker).
    const sample = (text: string, metric: string, kind: string, outcome: string) =>
      text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`kind="${kind}"`) && l.includes(`outcome="${outcome}"`));
    let metrics = '';
    for (let i = 0; i < 50 && !sample(metrics, 'dockflow_notifications_total', 'webhook', 'lost'); i++) {
      if (i) await new Promise((r) => setTimeout(r, 200));
      metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    }
    // Delivered to the webhook: completed, failed, cancelled, scheduled down; to the command: failed, cancelled.
    assert.match(sample(metrics, 'dockflow_notifications_total', 'webhook', 'delivered') ?? '', / 4$/);
    assert.match(sample(metrics, 'dockflow_notifications_total', 'command', 'delivered') ?? '', / 2$/);
    assert.match(sample(metrics, 'dockflow_notifications_total', 'webhook', 'lost') ?? '', / 1$/);
    assert.match(sample(metrics, 'dockflow_notification_attempts_total', 'webhook', 'delivered') ?? '', / 4$/);
    // At least: one while the receiver was down, the 503, the 404.
    const failedAttempts = Number(sample(metrics, 'dockflow_notification_attempts_total', 'webhook', 'failed')?.split(' ').at(-1));
    assert.ok(failedAttempts >= 3, `failed attempts: ${failedAttempts}`);
  });

  it('a worker killed during a delivery: the next worker delivers it, with the same idempotency key', async () => {
    behaviours.push('hold');
    const arrived = new Promise<void>((r) => (heldArrived = r));
    await bed.env.client.workflow.execute('down', { taskQueue: TASK_QUEUE, workflowId: 'it-notify-down', args: [{ project: 'notifyok' }] });
    await arrived;
    await killHard(worker);
    worker = await spawnWorker(bed, workerEnv);
    const result = (await (await notifyHandle('it-notify-down')).result()) as NotifyResult;
    assert.equal(result.delivered.length, 1);
    const requests = deliveriesOf('it-notify-down');
    assert.deepEqual(requests.map((r) => r.status), [0, 200]);
    const [first, second] = requests.map((r) => JSON.parse(r.body));
    assert.equal(first.event, 'completed');
    assert.equal(first.operation, 'down');
    assert.equal(second.idempotencyKey, first.idempotencyKey);
    assert.equal(requests[1].headers['idempotency-key'], requests[0].headers['idempotency-key']);
  });

  it('the histories of these operations and of their deliveries replay against the current workflow code', async () => {
    const operations = ['it-notify-ok', 'it-notify-dry', 'it-notify-fail', 'it-notify-cancel', 'it-notify-rejected', 'it-notify-down'];
    const ids: string[] = [];
    for (const id of operations) {
      ids.push(id);
      const { runId } = await bed.env.client.workflow.getHandle(id).describe();
      if (id !== 'it-notify-dry') ids.push(`${id}-notify-${runId}`);
    }
    const histories = await Promise.all(ids.map(async (workflowId) => ({ workflowId, history: await bed.env.client.workflow.getHandle(workflowId).fetchHistory() })));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: bed.bundlePath } }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(replayed, 11);
  });
});
