/**
 * Workflow tests without Docker: the real workflows, a real Temporal dev
 * server, and the in-memory host of ./fake-host.ts instead of the Docker
 * activities. They pin what the workflows decide (rollout batches,
 * max_failure_ratio and failure_action, cancellation and its undo, the
 * re-observe rounds, the project lock) and run in seconds:
 * `npm run test:workflows`. What Docker does with those decisions is the
 * integration tests' business.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError, type WorkflowClient } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../src/temporal/dev-server';
import { loadStack } from '../../src/compose';
import type { StackSpec } from '../../src/model/spec';
import { projectDir, workflowBundlePath } from '../support/harness';
import { FakeHost, fakeActivities } from './fake-host';

let env: TestWorkflowEnvironment;
let bundlePath: string;

before(async () => {
  env = await startDevServer();
  bundlePath = await workflowBundlePath();
});
after(async () => {
  await env?.teardown();
});

/** Run `fn` while a worker serves the workflows with the fake host's activities on a task queue of its own. */
async function withWorker<T>(host: FakeHost, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `wf-${randomUUID()}`;
  const client = async (): Promise<WorkflowClient> => env.client.workflow;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { codePath: bundlePath },
    activities: fakeActivities(host, client),
    maxHeartbeatThrottleInterval: '1s',
  });
  return worker.runUntil(fn(taskQueue));
}

/** A stack spec from compose text, loaded as the CLI loads it. */
function stack(project: string, release: number, web: string, extraServices = ''): StackSpec {
  const dir = projectDir(project, {});
  const file = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(
    file,
    `name: ${project}\nservices:\n  web:\n    image: web:1\n    environment: {RELEASE: "${release}"}\n    healthcheck: {test: ["CMD", "true"], interval: 1s}\n${web}${extraServices}`,
  );
  return loadStack({ files: [file], environment: {} }).spec;
}

const projectName = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

function deploy(taskQueue: string, spec: StackSpec, extra: Record<string, unknown> = {}) {
  return env.client.workflow.execute('deploy', { taskQueue, workflowId: `deploy-${spec.project}-${randomUUID()}`, args: [{ spec, ...extra }] });
}

async function failureOf(promise: Promise<unknown>): Promise<{ message: string; type?: string }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError, `a workflow failure, got ${String(err)}`);
    const cause = err.cause as { message: string; type?: string } | undefined;
    return { message: cause?.message ?? err.message, type: cause?.type };
  }
  assert.fail('the workflow succeeded');
}

async function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${what} never came true`);
}

const releases = (host: FakeHost, project: string) => host.project(project).map((c) => `${c.name}=${c.release}`);

describe('workflows against an in-memory host', { timeout: 120_000 }, () => {
  it('deploys in dependency order: a service_healthy dependant is created only after its dependency is healthy', async () => {
    const host = new FakeHost();
    const project = projectName('wf-order');
    const spec = stack(project, 1, '    depends_on: {db: {condition: service_healthy}}\n', '  db:\n    image: db:1\n    healthcheck: {test: ["CMD", "true"]}\n');
    const result = await withWorker(host, (q) => deploy(q, spec));
    assert.equal(result.revision, 1);
    const order = host.calls.filter((c) => c.activity === 'convergeContainer' || c.activity === 'waitHealthy').map((c) => `${c.activity} ${c.subject}`);
    assert.ok(order.indexOf(`waitHealthy ${project}-db-1`) < order.indexOf(`convergeContainer ${project}-web-1`), order.join(', '));
    assert.deepEqual(host.project(project).map((c) => `${c.name} ${c.state} ${c.health}`), [`${project}-db-1 running healthy`, `${project}-web-1 running healthy`]);
  });

  it('creates the containers of one dependency level and waits for them in one activity; the short steps run as local activities', async () => {
    const host = new FakeHost();
    const project = projectName('wf-trips');
    const spec = stack(project, 1, '', '  api:\n    image: api:1\n    healthcheck: {test: ["CMD", "true"]}\n  worker:\n    image: worker:1\n    healthcheck: {test: ["CMD", "true"]}\n');
    const workflowId = `deploy-${project}`;
    const { scheduled, events, patches, upserts, locals, history } = await withWorker(host, async (q) => {
      const handle = await env.client.workflow.start('deploy', { taskQueue: q, workflowId, args: [{ spec }] });
      await handle.result();
      const history = await handle.fetchHistory();
      const all = history.events ?? [];
      const markers = all.flatMap((e) => e.markerRecordedEventAttributes ?? []);
      const payload = (m: (typeof markers)[number], key: string) => JSON.parse(Buffer.from(m.details?.[key]?.payloads?.[0]?.data ?? []).toString('utf8'));
      return {
        scheduled: all.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []),
        events: all.length,
        patches: markers.filter((m) => m.markerName === 'core_patch').map((m) => payload(m, 'patch-data').id as string),
        upserts: all.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length,
        locals: markers.filter((m) => m.markerName === 'core_local_activity').map((m) => payload(m, 'data').activity_type as string),
        history,
      };
    });
    // Before: checkPolicy, ensureImages, observeProject, getRevision, ensureNetworksAndVolumes, 3 × convergeContainer,
    // 3 × waitHealthy, observeProject, verifyProject, recordRevision (103 events).
    // Nothing depends on these services and --wait waits for them: each is created and waited for in one step.
    assert.deepEqual(scheduled, ['convergeContainers']);
    // One patch marker stands for every patch the run takes (workflows/patches.ts), one upsert for it beside the
    // one that names operation and project; the last observation is verified in the workflow (no verifyProject).
    assert.deepEqual(patches, ['dockflow-one-patch-marker']);
    assert.equal(upserts, 2);
    assert.deepEqual(locals, ['checkPolicy', 'ensureImages', 'observeProject', 'getRevision', 'ensureNetworksAndVolumes', 'observeProject', 'recordRevision', 'notificationTargets']);
    assert.ok(events / 3 <= 10, `${events} history events for 3 services`);
    // The new command sequence replays through the same code.
    await Worker.runReplayHistory({ workflowBundle: { codePath: bundlePath } }, history, workflowId);
    // Each container was still converged and waited for once.
    assert.deepEqual(host.callsOf('convergeContainer').sort(), [`${project}-api-1`, `${project}-web-1`, `${project}-worker-1`]);
    assert.deepEqual(host.callsOf('waitHealthy').sort(), [`${project}-api-1`, `${project}-web-1`, `${project}-worker-1`]);
    assert.deepEqual(host.project(project).map((c) => `${c.name} ${c.state} ${c.health}`), ['api', 'web', 'worker'].map((s) => `${project}-${s}-1 running healthy`));
  });

  it('rolls start-first in batches of `parallelism`: never more replacements at once, every old container retired', async () => {
    for (const parallelism of [1, 2]) {
      const host = new FakeHost(150);
      const project = projectName(`wf-batch${parallelism}`);
      const web = `    deploy:\n      replicas: 3\n      update_config: {order: start-first, parallelism: ${parallelism}}\n`;
      await withWorker(host, async (q) => {
        await deploy(q, stack(project, 1, web));
        host.maxConcurrentWaits.clear();
        const result = await deploy(q, stack(project, 2, web));
        assert.equal(result.revision, 2);
      });
      assert.equal(host.maxConcurrentWaits.get('web'), parallelism, `parallelism ${parallelism}`);
      assert.equal(host.callsOf('startReplacement').length, 3);
      assert.deepEqual(releases(host, project), [1, 2, 3].map((n) => `${project}-web-${n}=2`));
    }
  });

  it('failure_action pause with max_failure_ratio 0: the first unhealthy replacement stops the rollout; later replicas keep the old version', async () => {
    const host = new FakeHost();
    const project = projectName('wf-pause');
    const web = '    deploy:\n      replicas: 3\n      update_config: {order: start-first, parallelism: 1, failure_action: pause}\n';
    host.unhealthy = (c) => c.release === '2';
    const failure = await withWorker(host, async (q) => {
      await deploy(q, stack(project, 1, web));
      return failureOf(deploy(q, stack(project, 2, web)));
    });
    assert.match(failure.message, /update paused/);
    assert.equal(host.callsOf('startReplacement').length, 1, 'one replacement tried');
    assert.deepEqual(releases(host, project), [1, 2, 3].map((n) => `${project}-web-${n}=1`), 'the failed replacement was dropped');
    assert.equal(host.revisions.get(project)?.length, 1, 'no revision for a paused update');
  });

  it('max_failure_ratio tolerates failures up to the ratio, then failure_action rollback puts every replica back', async () => {
    const host = new FakeHost();
    const project = projectName('wf-ratio');
    const web = (ratio: number) =>
      `    deploy:\n      replicas: 4\n      update_config: {order: start-first, parallelism: 1, failure_action: rollback, max_failure_ratio: ${ratio}}\n`;
    // Replicas 3 and 4 fail: 2 of 4 is above 0.25 but 1 of 4 is not, so the rollout stops at the second failure.
    host.unhealthy = (c) => c.release === '2' && c.number >= 3;
    const failure = await withWorker(host, async (q) => {
      await deploy(q, stack(project, 1, web(0.25)));
      return failureOf(deploy(q, stack(project, 2, web(0.25))));
    });
    assert.equal(failure.type, 'RolledBack', failure.message);
    assert.match(failure.message, /rolled back to revision 1/);
    assert.deepEqual(host.callsOf('startReplacement').slice(0, 4).map((n) => n.replace(/_dockflow-next-.*$/, '')), [1, 2, 3, 4].map((n) => `${project}-web-${n}`));
    assert.deepEqual(releases(host, project), [1, 2, 3, 4].map((n) => `${project}-web-${n}=1`));
  });

  it('a cancelled rolling update puts the previous revision back and leaves no replacement or retiring container', async () => {
    const host = new FakeHost();
    const project = projectName('wf-cancel');
    const web = '    deploy:\n      replicas: 2\n      update_config: {order: start-first, parallelism: 1}\n';
    await withWorker(host, async (q) => {
      await deploy(q, stack(project, 1, web));
      // The second replica's replacement waits for health until the workflow is cancelled.
      host.held = (name) => name.startsWith(`${project}-web-2_dockflow-next-`) && host.byName(name)?.release === '2';
      const handle = await env.client.workflow.start('deploy', { taskQueue: q, workflowId: `deploy-${project}-cancel`, args: [{ spec: stack(project, 2, web) }] });
      await until(() => host.callsOf('waitHealthy').some((n) => host.held(n)));
      assert.equal(host.byName(`${project}-web-1`)?.release, '2', 'the first replica was replaced before the cancel');
      await handle.cancel();
      await assert.rejects(handle.result(), /cancel/i);
    });
    assert.deepEqual(releases(host, project), [`${project}-web-1=1`, `${project}-web-2=1`]);
    assert.equal(host.revisions.get(project)?.length, 1);
  });

  it('converges again when the host drifts during the operation, and verifies before recording', async () => {
    const host = new FakeHost();
    const project = projectName('wf-drift');
    const spec = stack(project, 1, '', '  worker:\n    image: worker:1\n');
    // Observation 0 plans the deploy; observation 1 is the re-observe after it ran: the worker was stopped meanwhile.
    host.beforeObserve = (p, count) => {
      const worker = host.byName(`${project}-worker-1`);
      if (p === project && count === 1 && worker) worker.state = 'exited';
    };
    const result = await withWorker(host, (q) => deploy(q, spec));
    assert.equal(result.revision, 1);
    assert.deepEqual(host.callsOf('convergeContainer').filter((n) => n === `${project}-worker-1`).length, 2, 'started again');
    assert.equal(host.byName(`${project}-worker-1`)?.state, 'running');
    // The observation after the second converge found nothing to do: it is what the workflow verified, before recording.
    const observes = host.calls.flatMap((c, i) => (c.activity === 'observeProject' ? [i] : []));
    assert.equal(observes.length, 3, 'plan, drift found, nothing left');
    assert.ok(observes[2] < host.calls.findIndex((c) => c.activity === 'recordRevision'));
    assert.equal(host.callsOf('verifyProject').length, 0);
  });

  it('verifies the last observation in the workflow: a container whose image is not the one the spec resolves to fails the deploy', async () => {
    const host = new FakeHost();
    const project = projectName('wf-verify-image');
    const spec = stack(project, 1, '');
    // The plan goes by config hash, which still matches; only the verification compares image IDs.
    host.beforeObserve = (p, count) => {
      const web = host.byName(`${project}-web-1`);
      if (p === project && count >= 1 && web) web.imageId = `sha256:${'f'.repeat(64)}`;
    };
    const failure = await withWorker(host, (q) => failureOf(deploy(q, spec)));
    assert.match(failure.message, new RegExp(`${project}-web-1 runs image ffffffffffff, the spec resolves to`));
    assert.equal(host.callsOf('verifyProject').length, 0, 'verified from the last observation');
    assert.equal(host.revisions.get(project), undefined, 'no revision recorded');
  });

  it('records nothing the host does not show: a replica missing at the end fails the deploy', async () => {
    const host = new FakeHost();
    const project = projectName('wf-verify');
    const spec = stack(project, 1, '    deploy: {replicas: 2}\n');
    // Every observation after the plan ran finds replica 2 gone again (a host that keeps losing it).
    host.beforeObserve = (p, count) => {
      if (p === project && count >= 1) for (const c of host.project(project)) if (c.number === 2) host.containers.delete(c.id);
    };
    const failure = await withWorker(host, (q) => failureOf(deploy(q, spec)));
    assert.match(failure.message, new RegExp(`service web: 1 container\\(s\\) on the host \\(${project}-web-1\\), the spec says 2`));
    assert.equal(host.revisions.get(project), undefined, 'no revision recorded');
  });

  it('post_deploy failure_action pause records the new revision and fails saying so; continue succeeds with a warning; an unchanged redeploy runs no hook', async () => {
    const host = new FakeHost();
    const project = projectName('wf-hooks');
    const web = (action: string, post: string) => `    deploy: {update_config: {failure_action: ${action}}}\n    x-dockflow: {hooks: {pre_deploy: "true", post_deploy: ${JSON.stringify(post)}}}\n`;
    await withWorker(host, async (q) => {
      assert.equal((await deploy(q, stack(project, 1, web('pause', 'true')))).revision, 1);
      const paused = await failureOf(deploy(q, stack(project, 2, web('pause', 'exit 5'))));
      assert.equal(paused.type, 'DeployHookFailed');
      assert.match(paused.message, new RegExp(`^deploy of ${project} failed \\(failure_action pause: revision 2 is recorded and runs; dockflow rollback -p ${project} puts the previous one back\\): post_deploy hook of service web \\(services\\.web\\.x-dockflow\\.hooks\\.post_deploy\\) exited with code 5\\.`));
      assert.equal(host.revisions.get(project)?.length, 2, 'the revision that runs is recorded');
      assert.deepEqual(releases(host, project), [`${project}-web-1=2`]);

      const continued = (await deploy(q, stack(project, 3, web('continue', 'exit 6')))) as { revision: number; warnings: string[] };
      assert.equal(continued.revision, 3);
      assert.ok(continued.warnings.some((w) => /^failure_action continue: post_deploy hook of service web .* exited with code 6/.test(w)), continued.warnings.join('\n'));

      const started = host.callsOf('startOneOff').length;
      const again = (await deploy(q, stack(project, 3, web('continue', 'exit 6')))) as { revision: number; operations: number };
      assert.deepEqual([again.revision, again.operations], [3, 0]);
      assert.equal(host.callsOf('startOneOff').length, started, 'nothing changed, no hook ran');
    });
    // Each hook of each deploy started once, with its variables.
    assert.equal(host.oneOffs.size, 6);
    assert.ok([...host.oneOffs.values()].every((o) => o.starts === 1));
    const third = [...host.oneOffs.values()].filter((o) => o.env.DOCKFLOW_REVISION === '3');
    assert.deepEqual(third.map((o) => [o.kind, o.env.DOCKFLOW_PREVIOUS_REVISION, o.env.DOCKFLOW_OPERATION]), [['pre_deploy', '2', 'deploy'], ['post_deploy', '2', 'deploy']]);
  });

  it('one operation per project: a second one fails naming the holder, or waits for it with waitForLock', async () => {
    const host = new FakeHost();
    const project = projectName('wf-lock');
    const spec = stack(project, 1, '');
    await withWorker(host, async (q) => {
      let holding = true;
      host.held = (name) => holding && name === `${project}-web-1`;
      const first = await env.client.workflow.start('deploy', { taskQueue: q, workflowId: `deploy-${project}-first`, args: [{ spec }] });
      await until(() => host.callsOf('waitHealthy').includes(`${project}-web-1`));
      const busy = await failureOf(deploy(q, spec));
      assert.equal(busy.type, 'ProjectBusy');
      assert.match(busy.message, new RegExp(`deploy deploy-${project}-first`));
      const waiting = deploy(q, spec, { waitForLock: true });
      await new Promise((r) => setTimeout(r, 500));
      holding = false;
      assert.equal((await first.result()).revision, 1);
      const second = await waiting;
      assert.equal(second.revision, 1, 'an unchanged redeploy records no new revision');
    });
  });
});
