/**
 * What an operator sees and types, against a real dev server and Docker:
 * a deploy started with the one-object input the Temporal UI sends
 * (`{"stack": "..."}` from DOCKFLOW_STACKS_DIR), the search attributes that
 * let the UI filter by project, the activity summaries in the timeline,
 * `dockflow ps`/`watch`/`setup`, and the worker's Prometheus metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { failureMessage } from '../../src/client/operations';
import { progressQuery } from '../../src/messages';
import { startDevServer } from '../../src/temporal/dev-server';
import { OPERATION_ATTRIBUTE, PROJECT_ATTRIBUTE } from '../../src/temporal/search-attributes';
import { freePort, killHard, projectContainers, removeProject, runCli, spawnWorker, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-operator';
const PROJECT = 'itops';

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('operator experience', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  let stacksDir: string;
  let deployId: string;
  const previousStacksDir = process.env.DOCKFLOW_STACKS_DIR;

  before(async () => {
    stacksDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-stacks-'));
    fs.mkdirSync(path.join(stacksDir, PROJECT));
    // The folder's name is the project name; .env beside the compose file feeds interpolation.
    fs.writeFileSync(
      path.join(stacksDir, PROJECT, 'compose.yaml'),
      `services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo $\${GREETING} > /tmp/greeting; exec sleep 3600"]
    init: true
    environment:
      GREETING: \${GREETING}
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/greeting"], interval: 1s, timeout: 1s, retries: 30}
`,
    );
    fs.writeFileSync(path.join(stacksDir, PROJECT, '.env'), 'GREETING=hello-from-the-stacks-dir\n');
    process.env.DOCKFLOW_STACKS_DIR = stacksDir;
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    await removeProject(bed.docker, PROJECT);
  });

  after(async () => {
    if (previousStacksDir === undefined) delete process.env.DOCKFLOW_STACKS_DIR;
    else process.env.DOCKFLOW_STACKS_DIR = previousStacksDir;
    await removeProject(bed.docker, PROJECT);
    await stopWorker?.();
    await bed?.teardown();
  });

  it('deploys a stack of DOCKFLOW_STACKS_DIR from the UI-shaped input {"stack": name}', async () => {
    deployId = `it-ops-deploy-${Date.now()}`;
    const result = (await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: deployId, args: [{ stack: PROJECT }] })) as { project: string; revision: number };
    assert.equal(result.project, PROJECT);
    assert.equal(result.revision, 1);
    const info = await bed.docker.getContainer(`${PROJECT}-web-1`).inspect();
    assert.equal(info.State.Health?.Status, 'healthy');
    assert.ok(info.Config.Env.includes('GREETING=hello-from-the-stacks-dir'), `env from the stack's .env: ${info.Config.Env.join(' ')}`);
  });

  it('fails a wrong UI input at once with a readable message, touching nothing', async () => {
    const cases: [unknown, RegExp][] = [
      [{ stack: 'nope' }, new RegExp(`stack "nope" is not a folder in DOCKFLOW_STACKS_DIR .*stacks there: ${PROJECT}`)],
      [{ stack: '../etc' }, /input\.stack: a folder name in the worker's DOCKFLOW_STACKS_DIR/],
      [{}, /give exactly one of "stack".*"composeFiles".*"spec"/],
      [{ stack: PROJECT, removeOrphan: true }, /input: Unrecognized key.*removeOrphan/],
    ];
    for (const [input, expected] of cases) {
      const id = `it-ops-bad-${Date.now()}`;
      await assert.rejects(bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: id, args: [input] }), (err: unknown) => {
        assert.match(failureMessage(err), expected);
        return true;
      });
      const history = await bed.env.client.workflow.getHandle(id).fetchHistory();
      const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      assert.ok(attempts.every((a) => a === 1), `non-retryable: no activity attempt beyond the first (${attempts.join(',')})`);
    }
    assert.deepEqual((await projectContainers(bed.docker, PROJECT)).map((c) => c.Id).length, 1, 'still only the deployed container');
  });

  it('tags every operation with DockflowProject and DockflowOperation, so the UI can filter by project', async () => {
    const found = await eventually('the deploy in a DockflowProject query', async () => {
      const ids: { id: string; operation: unknown }[] = [];
      for await (const wf of bed.env.client.workflow.list({ query: `${PROJECT_ATTRIBUTE.name} = '${PROJECT}'` })) {
        ids.push({ id: wf.workflowId, operation: wf.typedSearchAttributes.get(OPERATION_ATTRIBUTE) });
      }
      return ids.some((w) => w.id === deployId) ? ids : undefined;
    });
    assert.equal(found.find((w) => w.id === deployId)?.operation, 'deploy');
    const other = [];
    for await (const wf of bed.env.client.workflow.list({ query: `${PROJECT_ATTRIBUTE.name} = 'some-other-project'` })) other.push(wf.workflowId);
    assert.deepEqual(other, [], 'the filter is by project');
  });

  it('gives every activity a readable summary for the UI timeline', async () => {
    const history = await bed.env.client.workflow.getHandle(deployId).fetchHistory();
    // Scheduled activities, and local activities (recorded as markers; workflows/round-trips.ts).
    const steps = history.events!.filter((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    assert.ok(steps.length >= 4, `activities: ${steps.length}`);
    const summaries = steps.map((e) => {
      const payload = e.userMetadata?.summary;
      assert.ok(payload, `activity ${e.activityTaskScheduledEventAttributes?.activityType?.name ?? `marker #${e.eventId}`} has a summary`);
      return defaultPayloadConverter.fromPayload<string>(payload!);
    });
    assert.ok(summaries.some((s) => s.startsWith('load ')), summaries.join(' | '));
    // A batched step names each container it converges or waits for.
    assert.ok(summaries.some((s) => s.includes(`create ${PROJECT}-web-1`)), summaries.join(' | '));
    assert.ok(
      summaries.some((s) => s.includes(`wait healthy ${PROJECT}-web-1`) || s.includes(`${PROJECT}-web-1 and wait healthy`) || s.startsWith(`check ${PROJECT}-web-1`)),
      summaries.join(' | '),
    );
  });

  it('the progress query lists the plan first (pending), then each step with its service, container, state and timing', async () => {
    const progress = await bed.env.client.workflow.getHandle(deployId).query(progressQuery);
    const create = progress.steps.find((s) => s.title.startsWith(`create ${PROJECT}-web-1`));
    const ensure = progress.steps.find((s) => s.title === 'ensure networks and volumes');
    const wait = progress.steps.find((s) => s.title === `wait healthy ${PROJECT}-web-1`);
    assert.ok(create && ensure && wait, progress.steps.map((s) => s.title).join(' | '));
    // Announced as pending when the plan was made, before the first step of the plan ran.
    assert.ok(create.id < ensure.id, `create (#${create.id}) announced before ensure networks (#${ensure.id})`);
    for (const step of [create, wait]) {
      assert.equal(step.state, 'done');
      assert.equal(step.service, 'web');
      assert.equal(step.container, `${PROJECT}-web-1`);
      assert.ok(step.startedAt! <= step.finishedAt!, 'timed');
    }
    assert.ok(progress.steps.every((s) => s.state === 'done'), 'nothing left pending after a successful deploy');
  });

  it('`dockflow ps` shows revision, running operations and health; `watch` follows a finished or failed operation', async () => {
    const env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    const ps = await runCli(['ps', '-p', PROJECT, '--json'], env);
    assert.equal(ps.code, 0, ps.stderr);
    const status = JSON.parse(ps.stdout);
    assert.equal(status.revision?.number, 1);
    assert.equal(status.revision?.workflowId, deployId);
    assert.deepEqual(status.running, []);
    assert.deepEqual(
      status.containers.map((c: { container: string; state: string; health: string }) => [c.container, c.state, c.health]),
      [[`${PROJECT}-web-1`, 'running', 'healthy']],
    );
    const text = await runCli(['status', '-p', PROJECT], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /revision 1 \(deploy, /);
    assert.match(text.stdout, new RegExp(`web\\s+${PROJECT}-web-1\\s+running\\s+healthy`));

    const watched = await runCli(['watch', deployId, '--json'], env);
    assert.equal(watched.code, 0, watched.stderr);
    assert.equal(JSON.parse(watched.stdout).status, 'COMPLETED');
    const live = await runCli(['watch', deployId], env);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stderr, /✔ load compose files/);

    const failedId = `it-ops-watch-failed-${Date.now()}`;
    await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: failedId, args: [{ stack: 'nope' }] });
    const failed = await runCli(['watch', failedId], env);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /stack "nope" is not a folder/);
  });

  it('`dockflow setup` creates a missing namespace and registers the search attributes on a namespace that lacks them, once', async () => {
    const bare = await startDevServer({ searchAttributes: false });
    try {
      const env = { TEMPORAL_ADDRESS: bare.address };
      const first = await runCli(['setup', '--json'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout).added.sort(), ['DockflowOperation', 'DockflowProject']);
      const second = await runCli(['setup', '--json'], env);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), { namespace: 'default', added: [], present: ['DockflowProject', 'DockflowOperation'], namespaceCreated: false });
      // A fresh production cluster has only its system namespace: setup creates the one it is told to use.
      const fresh = await runCli(['setup', '--json'], { ...env, TEMPORAL_NAMESPACE: 'ops' });
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.deepEqual(JSON.parse(fresh.stdout), { namespace: 'ops', added: ['DockflowProject', 'DockflowOperation'], present: [], namespaceCreated: true });
      const again = await runCli(['setup', '--json'], { ...env, TEMPORAL_NAMESPACE: 'ops' });
      assert.equal(JSON.parse(again.stdout).namespaceCreated, false);
    } finally {
      await bare.teardown();
    }
  });

  it('serves Prometheus metrics: Temporal runtime metrics and dockflow operations by type and outcome', async () => {
    await stopWorker?.();
    stopWorker = undefined;
    const port = await freePort();
    process.env.DOCKFLOW_METRICS_ADDRESS = `127.0.0.1:${port}`;
    let child;
    try {
      child = await spawnWorker(bed);
    } finally {
      delete process.env.DOCKFLOW_METRICS_ADDRESS;
    }
    try {
      // One completed (a no-op redeploy) and one failed operation.
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-ops-metrics-ok-${Date.now()}`, args: [{ stack: PROJECT }] });
      await assert.rejects(bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-ops-metrics-bad-${Date.now()}`, args: [{ stack: 'nope' }] }));
      const sample = (text: string, outcome: string) =>
        text.split('\n').find((l) => l.startsWith('dockflow_operations_total{') && l.includes('operation="deploy"') && l.includes(`outcome="${outcome}"`));
      const metrics = await eventually('dockflow_operations_total for both outcomes', async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return sample(text, 'completed') && sample(text, 'failed') ? text : undefined;
      });
      assert.match(sample(metrics, 'completed')!, / 1$/);
      assert.match(sample(metrics, 'failed')!, / 1$/);
      assert.match(metrics, /^dockflow_operation_seconds_bucket\{/m);
      assert.match(metrics, /^temporal_workflow_completed_total\{/m, 'Temporal runtime metrics too');
    } finally {
      await killHard(child);
    }
  });
});
