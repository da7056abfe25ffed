/**
 * Rolling updates, automatic rollback, the revision ledger and rollback, on
 * real Docker and a real Temporal server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import type { DeployResult } from '../../workflows/deploy';
import type { UpdateResult } from '../../workflows/update';
import type { HistoryEntry, RollbackResult } from '../../workflows/rollback';
import type { StackSpec } from '../../src/model/spec';
import { buildImage, execIn, nameOf, projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-rolling';
const PROJECTS = ['itroll', 'itrb', 'itled', 'itproxy', 'itport', 'itdry'];

/** A web service that needs 2 s before it listens, like a real app booting. */
const webService = (extra: string) => `
  web:
    image: \${WEB_IMAGE:-dockflow/busybox:1}
    command: ["sh", "-c", "echo \${RELEASE:-1} > /www/index.html; sleep 2; exec httpd -f -p 80 -h /www"]
    environment:
      RELEASE: "\${RELEASE:-1}"
    # An init process forwards SIGTERM, so httpd stops at once instead of after the grace period.
    init: true
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      timeout: 1s
      retries: 3
${extra}`;

describe('rolling updates and revisions', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    for (const p of PROJECTS) await removeProject(bed.docker, p);
  });

  after(async () => {
    for (const p of PROJECTS) await removeProject(bed.docker, p);
    await bed.docker.getContainer('itroll-client').remove({ force: true }).catch(() => undefined);
    await stopWorker?.();
    await bed?.teardown();
  });

  const load = (dir: string, environment: Record<string, string> = {}): StackSpec =>
    loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment }).spec;
  let counter = 0;
  const run = <T>(type: string, input: unknown): Promise<T> =>
    bed.env.client.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId: `it-rolling-${type}-${++counter}`, args: [input] }) as Promise<T>;

  it('replaces 3 replicas start-first with 0 failed requests from a client looping on the service alias', async () => {
    const dir = projectDir('itroll', {
      'docker-compose.yml': `name: itroll\nservices:${webService(`    deploy:
      replicas: 3
      update_config:
        order: start-first
        parallelism: 1
`)}`,
    });
    await run<DeployResult>('deploy', { spec: load(dir) });
    const before = await projectContainers(bed.docker, 'itroll');
    assert.equal(before.length, 3);

    // The client resolves the alias afresh for every request, as a looping script or a pool with short TTLs does.
    const client = await bed.docker.createContainer({
      name: 'itroll-client',
      Image: 'dockflow/busybox:1',
      Cmd: ['sh', '-c', 'ok=0; fail=0; while [ ! -f /tmp/stop ]; do if wget -q -O /dev/null http://web/; then ok=$((ok+1)); else fail=$((fail+1)); fi; echo "$ok $fail" > /tmp/count; done; echo done > /tmp/finished; sleep 3600'],
      HostConfig: { NetworkMode: 'itroll_default' },
    });
    await client.start();
    const counts = async () => (await execIn(bed.docker, 'itroll-client', ['cat', '/tmp/count'])).trim().split(' ').map(Number);
    while (((await counts().catch(() => [0]))[0] ?? 0) < 20) await new Promise((r) => setTimeout(r, 200));

    const started = Date.now();
    const result = await run<DeployResult>('deploy', { spec: load(dir, { RELEASE: '2' }) });
    const seconds = (Date.now() - started) / 1000;
    await execIn(bed.docker, 'itroll-client', ['touch', '/tmp/stop']);
    while (!(await execIn(bed.docker, 'itroll-client', ['cat', '/tmp/finished']).catch(() => '')).includes('done')) await new Promise((r) => setTimeout(r, 100));
    const [ok, failed] = await counts();
    console.log(`start-first update of 3 replicas: ${ok} requests ok, ${failed} failed, ${seconds.toFixed(1)} s`);

    assert.equal(failed, 0, `no request failed during the update (${ok} succeeded)`);
    assert.ok(ok > 20, 'the client kept sending requests');
    assert.equal(result.plan.split('\n').length, 3);
    const afterUpdate = await projectContainers(bed.docker, 'itroll');
    assert.deepEqual(afterUpdate.map(nameOf), ['itroll-web-1', 'itroll-web-2', 'itroll-web-3'], 'no replacement left under a temporary name');
    for (const c of afterUpdate) {
      assert.ok(!before.some((b) => b.Id === c.Id), `${nameOf(c)} was replaced`);
      const info = await bed.docker.getContainer(c.Id).inspect();
      assert.ok(info.Config.Env.includes('RELEASE=2'));
      assert.equal(info.State.Health?.Status, 'healthy');
      assert.deepEqual(Object.keys(info.NetworkSettings.Networks ?? {}), ['itroll_default']);
      assert.ok(info.NetworkSettings.Networks?.itroll_default.Aliases?.includes('web'), `${nameOf(c)} answers for the alias`);
    }
  });

  it('rolls a failed update back to the previous image ID, reporting the health output', async () => {
    const goodId = (await bed.docker.getImage('dockflow/busybox:1').inspect()).Id;
    await buildImage(bed.docker, 'dockflow-test/broken:1', 'FROM dockflow/busybox:1\nENTRYPOINT ["sh", "-c", "echo broken release; exec sleep 3600", "--"]\n');
    const dir = projectDir('itrb', {
      'docker-compose.yml': `name: itrb\nservices:${webService(`    deploy:
      replicas: 2
      update_config:
        order: stop-first
        failure_action: rollback
`)}`,
    });
    const first = await run<DeployResult>('deploy', { spec: load(dir) });
    assert.equal(first.revision, 1);

    await assert.rejects(run<UpdateResult>('update', { project: 'itrb', service: 'web', image: 'dockflow-test/broken:1' }), (err: unknown) => {
      const message = failureMessage(err);
      assert.match(message, /rolled back to revision 1/);
      assert.match(message, /service web/);
      return true;
    });
    const containers = await projectContainers(bed.docker, 'itrb');
    assert.deepEqual(containers.map(nameOf), ['itrb-web-1', 'itrb-web-2']);
    for (const c of containers) {
      const info = await bed.docker.getContainer(c.Id).inspect();
      assert.equal(info.Image, goodId, `${nameOf(c)} runs the previous image ID`);
      assert.equal(info.State.Health?.Status, 'healthy');
    }
    const history = await run<HistoryEntry[]>('history', { project: 'itrb' });
    assert.deepEqual(history.map((h) => h.number), [1], 'a rolled-back update records no revision');
  });

  it('refuses start-first for a service with a fixed host port unless allowed, and changes nothing', async () => {
    const dir = projectDir('itport', {
      'docker-compose.yml': `name: itport\nservices:${webService(`    ports: ["127.0.0.1:0:80"]
    deploy:
      update_config:
        order: start-first
`)}`.replace('127.0.0.1:0:80', '127.0.0.1:18931:80'),
    });
    await run<DeployResult>('deploy', { spec: load(dir) });
    const before = await projectContainers(bed.docker, 'itport');
    await assert.rejects(run<DeployResult>('deploy', { spec: load(dir, { RELEASE: '2' }) }), (err: unknown) => {
      assert.match(failureMessage(err), /service web: update order start-first .* publishes a fixed host port/);
      return true;
    });
    assert.deepEqual((await projectContainers(bed.docker, 'itport')).map((c) => c.Id), before.map((c) => c.Id));
    // Allowed explicitly, the same change falls back to stop-first and goes through.
    const portImage = await buildImage(bed.docker, 'dockflow-test/port:2', 'FROM dockflow/busybox:1\nLABEL release=port2\n');
    const allowed = await run<UpdateResult>('update', { project: 'itport', service: 'web', image: 'dockflow-test/port:2', rollout: { order: 'start-first', allowStopFirst: true } });
    assert.equal(allowed.plan, 'recreate container:itport-web-1 (config hash changed)');
    const web = await bed.docker.getContainer('itport-web-1').inspect();
    assert.equal(web.Image, portImage);
    assert.equal(web.HostConfig.PortBindings?.['80/tcp']?.[0]?.HostPort, '18931');
  });

  it('update --dry-run: the graph of every step it would take, with the rollout override, and nothing changed', async () => {
    const dir = projectDir('itdry', {
      'docker-compose.yml': `name: itdry\nservices:${webService(`    deploy:
      replicas: 2
      update_config:
        order: start-first
        parallelism: 2
`)}`,
    });
    const deployed = await run<DeployResult>('deploy', { spec: load(dir) });
    const before = await projectContainers(bed.docker, 'itdry');
    const ids = before.map((c) => c.Id);
    const newImage = await buildImage(bed.docker, 'dockflow-test/dry:2', 'FROM dockflow/busybox:1\nLABEL release=dry2\n');

    // parallelism 1 given on the command line: two batches instead of the file's one.
    const plan = await run<UpdateResult>('update', { project: 'itdry', service: 'web', image: 'dockflow-test/dry:2', rollout: { parallelism: 1 }, dryRun: true });
    assert.equal(plan.dryRun, true);
    assert.equal(plan.revision, deployed.revision, 'a dry run names the revision it would start from');
    assert.equal(plan.operations, 2);
    const lines = plan.graph!.split('\n');
    assert.ok(lines.includes('start-first replace container:itdry-web-1 (config hash changed, batch 1/2)'), plan.graph);
    assert.ok(lines.some((l) => l.startsWith('start-first replace container:itdry-web-2 (config hash changed, batch 2/2') && l.endsWith('after container:itdry-web-1')), plan.graph);

    // Nothing changed: the same containers on the old image, and the ledger still at the deploy's revision.
    const after = await projectContainers(bed.docker, 'itdry');
    assert.deepEqual(after.map((c) => c.Id), ids);
    for (const c of after) assert.notEqual((await bed.docker.getContainer(c.Id).inspect()).Image, newImage);
    const history = await run<HistoryEntry[]>('history', { project: 'itdry' });
    assert.deepEqual(history.map((h) => h.number), [deployed.revision]);

    // An image that is not on the host is looked up, not pulled, and counts as changed.
    const missing = await run<UpdateResult>('update', { project: 'itdry', service: 'web', image: 'dockflow-test/not-here:1', dryRun: true });
    assert.equal(missing.operations, 2);
    await assert.rejects(bed.docker.getImage('dockflow-test/not-here:1').inspect());
    assert.deepEqual((await projectContainers(bed.docker, 'itdry')).map((c) => c.Id), ids);
  });

  it('rolls back to revision N-2 with its exact image IDs, and the ledger outlives the Temporal database', async () => {
    const idA = await buildImage(bed.docker, 'dockflow-test/app:a', 'FROM dockflow/busybox:1\nLABEL release=a\n');
    const idB = await buildImage(bed.docker, 'dockflow-test/app:b', 'FROM dockflow/busybox:1\nLABEL release=b\n');
    const dir = projectDir('itled', { 'docker-compose.yml': `name: itled\nservices:${webService('')}` });
    const r1 = await run<DeployResult>('deploy', { spec: load(dir, { WEB_IMAGE: 'dockflow-test/app:a' }) });
    const r2 = await run<UpdateResult>('update', { project: 'itled', service: 'web', image: 'dockflow-test/app:b' });
    // Move the tag away from the first image, as a rebuild would: rollback must not depend on tags.
    await buildImage(bed.docker, 'dockflow-test/app:a', 'FROM dockflow/busybox:1\nLABEL release=a2\n');
    const r3 = await run<UpdateResult>('update', { project: 'itled', service: 'web', scale: 2 });
    assert.deepEqual([r1.revision, r2.revision, r3.revision], [1, 2, 3]);

    const rolledBack = await run<RollbackResult>('rollback', { project: 'itled', to: 1 });
    assert.equal(rolledBack.restored, 1);
    assert.equal(rolledBack.revision, 4);
    const containers = await projectContainers(bed.docker, 'itled');
    assert.deepEqual(containers.map(nameOf), ['itled-web-1']);
    assert.equal((await bed.docker.getContainer('itled-web-1').inspect()).Image, idA);
    assert.notEqual(idA, idB);

    // A fresh Temporal server with an empty database, same host: the ledger is still there.
    const fresh = await startTestBed(`${TASK_QUEUE}-fresh`, { stateDir: bed.stateDir });
    const stopFresh = await startWorker(fresh);
    try {
      const history = (await fresh.env.client.workflow.execute('history', { taskQueue: `${TASK_QUEUE}-fresh`, workflowId: 'it-history-fresh', args: [{ project: 'itled' }] })) as HistoryEntry[];
      assert.deepEqual(history.map((h) => [h.number, h.operation]), [[1, 'deploy'], [2, 'update'], [3, 'update'], [4, 'rollback']]);
      assert.equal(history[3].restoredFrom, 1);
      assert.equal(history[0].images.web.id, idA);
      assert.match(history[1].changes.join('\n'), /web: dockflow-test\/app:a .* -> dockflow-test\/app:b/);
    } finally {
      await stopFresh();
      await fresh.teardown();
    }
    // Every retained revision's image is protected by a tag.
    assert.equal((await bed.docker.getImage('dockflow-revision/itled-web:r1').inspect()).Id, idA);
  });

  it('signals the proxy declared in x-dockflow.after_replace once its upstream was replaced', async () => {
    const dir = projectDir('itproxy', {
      'docker-compose.yml': `name: itproxy
services:
  api:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    environment:
      RELEASE: "\${RELEASE:-1}"
    x-dockflow:
      after_replace:
        - {service: proxy, signal: SIGHUP}
  proxy:
    image: dockflow/busybox:1
    command: ["sh", "-c", "trap 'echo reloaded >> /tmp/reloads' HUP; touch /tmp/reloads; while true; do sleep 1; done"]
    depends_on: [api]
`,
    });
    await run<DeployResult>('deploy', { spec: load(dir) });
    assert.equal((await execIn(bed.docker, 'itproxy-proxy-1', ['cat', '/tmp/reloads'])).trim(), '');
    await run<DeployResult>('deploy', { spec: load(dir, { RELEASE: '2' }) });
    let reloads = '';
    for (let i = 0; i < 30 && !reloads.includes('reloaded'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      reloads = await execIn(bed.docker, 'itproxy-proxy-1', ['cat', '/tmp/reloads']);
    }
    assert.equal(reloads.trim(), 'reloaded');
  });
});
