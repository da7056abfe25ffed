/**
 * The ledger records only what is true, and a stack docker compose started
 * is taken over without an outage (real Docker, real Temporal, the real
 * docker-compose 1.29 binary; nothing mocked):
 * - `dockflow update --scale 3` of a container_name service: exit 2, nothing
 *   changed, no revision;
 * - the verification activity against a real host that differs from the spec;
 * - a rollback to a revision that cannot be true (as an older dockflow
 *   recorded it) fails naming what differs and records nothing;
 * - `docker-compose up -d` (v1 names), then `dockflow deploy` of the same
 *   files while a client loops on the web service: 0 failed requests,
 *   causes "started by docker compose", named volume data kept;
 * - compose v2 names (`proj-web-1`) made with compose's labels: taken over,
 *   stop-first where a fixed host port forces it;
 * - a failed migration's one-off container: kept, listed apart by `ps`, not
 *   a replica, removed by `down`; a successful one leaves none.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { Label } from '../../src/model/labels';
import type { StackSpec } from '../../src/model/spec';
import type { DeployResult } from '../../workflows/deploy';
import type { HistoryEntry } from '../../workflows/rollback';
import type { MigrateResult } from '../../workflows/migrate';
import { createActivities } from '../../activities';
import { execIn, freePort, nameOf, projectContainers, projectDir, removeProject, runCli, startTestBed, startWorker, TEST_IMAGE, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-truth';
const SCALE = 'truthscale';
const VERIFY = 'truthverify';
const TAKEOVER = 'truthtk';
const TAKEOVER_V2 = 'truthtkv2';
const MIGRATE = 'truthmig';
const PROJECTS = [SCALE, VERIFY, TAKEOVER, TAKEOVER_V2, MIGRATE];
const CLIENT = 'truthtk-client';

const execFileAsync = promisify(execFile);

describe('the ledger records only what is true; taking over a compose stack', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let cliEnv: Record<string, string>;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    cliEnv = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    await bed.docker.getContainer(CLIENT).remove({ force: true }).catch(() => undefined);
    for (const p of PROJECTS) await removeProject(bed.docker, p);
  });

  after(async () => {
    await bed.docker.getContainer(CLIENT).remove({ force: true }).catch(() => undefined);
    for (const p of PROJECTS) await removeProject(bed.docker, p);
    await stopWorker?.();
    await bed?.teardown();
  });

  let counter = 0;
  const run = <T>(type: string, input: unknown): Promise<T> =>
    bed.env.client.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId: `it-truth-${type}-${Date.now()}-${++counter}`, args: [input] }) as Promise<T>;
  const history = (project: string) => run<HistoryEntry[]>('history', { project });
  const load = (dir: string, project?: string, environment: Record<string, string> = {}): StackSpec =>
    loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment, ...(project ? { projectName: project } : {}) }).spec;

  it('update --scale 3 of a container_name service exits 2 naming service and key; nothing changes, no revision', async () => {
    const dir = projectDir(SCALE, {
      'docker-compose.yml': `name: ${SCALE}
services:
  backend:
    image: ${TEST_IMAGE}
    container_name: ${SCALE}-backend
    command: ["sleep", "3600"]
    init: true
`,
    });
    const deployed = await run<DeployResult>('deploy', { spec: load(dir) });
    assert.equal(deployed.revision, 1);
    const before = (await projectContainers(bed.docker, SCALE)).map((c) => c.Id);

    const cli = await runCli(['update', '-p', SCALE, 'backend', '--scale', '3'], cliEnv);
    assert.equal(cli.code, 2, cli.stderr);
    assert.match(cli.stderr, /input\.scale: service backend has container_name truthscale-backend, so it cannot run 3 replicas/);
    assert.deepEqual((await projectContainers(bed.docker, SCALE)).map((c) => c.Id), before, 'no container created, removed or replaced');
    assert.deepEqual((await history(SCALE)).map((h) => h.number), [1], 'the revision is unchanged');

    // The same through the workflow input: a non-retryable failure, before anything is touched.
    await assert.rejects(run('update', { project: SCALE, service: 'backend', scale: 2 }), (err: unknown) => {
      assert.match(failureMessage(err), /^invalid update input:\ninput\.scale: service backend has container_name/);
      return true;
    });
    assert.deepEqual((await history(SCALE)).map((h) => h.number), [1]);
  });

  it('the verification activity names what a real host lacks, and a rollback to an impossible revision records nothing', async () => {
    const dir = projectDir(VERIFY, {
      'docker-compose.yml': `name: ${VERIFY}
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
    init: true
    deploy: {replicas: 2}
  backend:
    image: ${TEST_IMAGE}
    container_name: ${VERIFY}-backend
    command: ["sleep", "3600"]
    init: true
`,
    });
    const spec = load(dir);
    const first = await run<DeployResult>('deploy', { spec });
    assert.equal(first.revision, 1);
    const imageId = (await bed.docker.getImage(TEST_IMAGE).inspect()).Id;
    const activities = createActivities({ docker: bed.docker, stateDir: bed.stateDir });
    const imageIds = { web: imageId, backend: imageId };
    assert.deepEqual(await activities.verifyProject({ spec, imageIds }), [], 'the host holds what revision 1 says');

    // Behind dockflow's back: one replica goes.
    await bed.docker.getContainer(`${VERIFY}-web-2`).remove({ force: true });
    assert.deepEqual(
      (await activities.verifyProject({ spec, imageIds })).map((d) => d.message),
      [`service web: 1 container(s) on the host (${VERIFY}-web-1), the spec says 2 replica(s)`],
    );
    // The next deploy converges it again and verifies before recording.
    const second = await run<DeployResult>('deploy', { spec });
    assert.equal(second.revision, 2);
    assert.deepEqual(await activities.verifyProject({ spec, imageIds }), []);

    // A revision as an older dockflow recorded it after `update --scale 3` of the container_name service.
    const revisions = path.join(bed.stateDir, 'projects', VERIFY, 'revisions');
    const recorded = JSON.parse(fs.readFileSync(path.join(revisions, '000002.json'), 'utf8'));
    Object.assign(recorded, { number: 3, operation: 'update', workflowId: 'update-by-an-older-dockflow', changed: ['backend'] });
    recorded.spec.services.backend.deploy.replicas = 3;
    fs.writeFileSync(path.join(revisions, '000003.json'), JSON.stringify(recorded));

    await assert.rejects(run('rollback', { project: VERIFY, to: 3 }), (err: unknown) => {
      const message = failureMessage(err);
      assert.match(
        message,
        /^rollback of truthverify to revision 3 failed: the host does not match the spec after the operation: service backend: 1 container\(s\) on the host \(truthverify-backend\), the spec says 3 replica\(s\)/,
      );
      return true;
    });
    assert.deepEqual((await history(VERIFY)).map((h) => h.number), [1, 2, 3], 'no revision is recorded for what the host does not run');
    assert.deepEqual((await projectContainers(bed.docker, VERIFY)).map(nameOf), [`${VERIFY}-backend`, `${VERIFY}-web-1`, `${VERIFY}-web-2`]);
  });

  it('takes over a stack docker-compose (v1) started: 0 failed requests, causes say so, named volume data kept', async () => {
    const dir = projectDir(TAKEOVER, {
      'docker-compose.yml': `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo ok > /www/index.html; sleep 2; exec httpd -f -p 80 -h /www"]
    init: true
    ports: ["80"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      timeout: 1s
      retries: 3
    depends_on: [db]
    deploy:
      update_config:
        order: start-first
  db:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
    init: true
    volumes: [data:/data]
  cron:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
    init: true
volumes:
  data:
`,
    });
    const file = path.join(dir, 'docker-compose.yml');
    await execFileAsync('docker-compose', ['-p', TAKEOVER, '-f', file, 'up', '-d'], { cwd: dir, timeout: 180_000 });
    const composed = await projectContainers(bed.docker, TAKEOVER);
    assert.deepEqual(composed.map(nameOf), [`${TAKEOVER}_cron_1`, `${TAKEOVER}_db_1`, `${TAKEOVER}_web_1`], 'docker-compose 1.29 names');
    await execIn(bed.docker, `${TAKEOVER}_db_1`, ['sh', '-c', 'echo kept-by-takeover > /data/marker']);
    while ((await bed.docker.getContainer(`${TAKEOVER}_web_1`).inspect()).State.Health?.Status !== 'healthy') await new Promise((r) => setTimeout(r, 200));

    const dryRun = await run<DeployResult>('deploy', { spec: load(dir, TAKEOVER), dryRun: true });
    assert.equal(
      dryRun.plan,
      [
        `recreate container:${TAKEOVER}-cron-1 (started by docker compose)`,
        `recreate container:${TAKEOVER}-db-1 (started by docker compose)`,
        `recreate container:${TAKEOVER}-web-1 (started by docker compose)`,
      ].join('\n'),
    );

    const client = await bed.docker.createContainer({
      name: CLIENT,
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', 'ok=0; fail=0; while [ ! -f /tmp/stop ]; do if wget -q -O /dev/null http://web/; then ok=$((ok+1)); else fail=$((fail+1)); fi; echo "$ok $fail" > /tmp/count; done; echo done > /tmp/finished; sleep 3600'],
      HostConfig: { NetworkMode: `${TAKEOVER}_default` },
    });
    await client.start();
    // The loop rewrites the file after every request: read until a whole "ok failed" line comes back.
    const counts = async (): Promise<number[]> => {
      for (;;) {
        const line = (await execIn(bed.docker, CLIENT, ['cat', '/tmp/count']).catch(() => '')).trim();
        if (/^\d+ \d+$/.test(line)) return line.split(' ').map(Number);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const warmUp = Date.now() + 60_000;
    while ((await counts())[0] < 20) {
      assert.ok(Date.now() < warmUp, `the client reaches web through compose's network before the take-over (${(await counts()).join(' ')})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await counts())[1], 0, 'no failure before the take-over either');

    const started = Date.now();
    const result = await run<DeployResult>('deploy', { spec: load(dir, TAKEOVER) });
    const seconds = (Date.now() - started) / 1000;
    await execIn(bed.docker, CLIENT, ['touch', '/tmp/stop']);
    while (!(await execIn(bed.docker, CLIENT, ['cat', '/tmp/finished']).catch(() => '')).includes('done')) await new Promise((r) => setTimeout(r, 100));
    const [ok, failed] = await counts();
    console.log(`take-over of a docker-compose stack (web start-first): ${ok} requests ok, ${failed} failed, ${seconds.toFixed(1)} s`);
    await bed.docker.getContainer(CLIENT).remove({ force: true });

    assert.equal(failed, 0, `no request failed during the take-over (${ok} succeeded)`);
    assert.ok(ok > 20, 'the client kept sending requests');
    assert.equal(result.plan, dryRun.plan);
    assert.equal(result.revision, 1);
    const after = await projectContainers(bed.docker, TAKEOVER);
    assert.deepEqual(after.map(nameOf), [`${TAKEOVER}-cron-1`, `${TAKEOVER}-db-1`, `${TAKEOVER}-web-1`], 'compose containers replaced, none left behind');
    for (const c of after) {
      assert.ok(!composed.some((old) => old.Id === c.Id), `${nameOf(c)} is a new container`);
      assert.equal(c.Labels[Label.managedBy], 'dockflow');
    }
    assert.equal((await execIn(bed.docker, `${TAKEOVER}-db-1`, ['cat', '/data/marker'])).trim(), 'kept-by-takeover', 'the named volume compose created is reused');
    const volumes = (await bed.docker.listVolumes({ filters: { label: [`${Label.project}=${TAKEOVER}`] } })).Volumes ?? [];
    assert.deepEqual(volumes.map((v) => v.Name), [`${TAKEOVER}_data`], 'no second volume');
    const web = await bed.docker.getContainer(`${TAKEOVER}-web-1`).inspect();
    assert.ok(web.NetworkSettings.Networks?.[`${TAKEOVER}_default`]?.Aliases?.includes('web'));
    // A second deploy of the same files is a no-op: the take-over converged.
    const again = await run<DeployResult>('deploy', { spec: load(dir, TAKEOVER) });
    assert.equal(again.operations, 0, again.plan);
  });

  it('takes over compose v2 names (proj-web-1), stop-first where a fixed host port forces it', async () => {
    const port = await freePort();
    const dir = projectDir(TAKEOVER_V2, {
      'docker-compose.yml': `name: ${TAKEOVER_V2}
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo v2 > /www/index.html; exec httpd -f -p 80 -h /www"]
    init: true
    ports: ["127.0.0.1:${port}:80"]
    deploy:
      update_config: {order: start-first}
    x-dockflow:
      update: {allow_stop_first: true}
  worker:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
    init: true
`,
    });
    // What docker compose v2 creates: its network and containers with its labels and `-` names.
    const network = `${TAKEOVER_V2}_default`;
    await bed.docker.createNetwork({ Name: network, Labels: { [Label.project]: TAKEOVER_V2, [Label.network]: 'default', [Label.composeVersion]: '2.24.0' } });
    const composeV2 = async (service: string, extra: object, exposed: Record<string, object> = {}) => {
      const c = await bed.docker.createContainer({
        name: `${TAKEOVER_V2}-${service}-1`,
        Image: TEST_IMAGE,
        ExposedPorts: exposed,
        Cmd: ['sleep', '3600'],
        Labels: {
          [Label.project]: TAKEOVER_V2,
          [Label.service]: service,
          [Label.containerNumber]: '1',
          [Label.oneoff]: 'False',
          [Label.composeConfigHash]: '0a1b2c3d4e5f',
          [Label.composeVersion]: '2.24.0',
        },
        HostConfig: { NetworkMode: network, Init: true, ...extra },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [service] } } },
      });
      await c.start();
      return c.id;
    };
    const olds = [await composeV2('web', { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } }, { '80/tcp': {} }), await composeV2('worker', {})];

    const result = await run<DeployResult>('deploy', { spec: load(dir) });
    assert.equal(result.plan, [`recreate container:${TAKEOVER_V2}-web-1 (started by docker compose)`, `recreate container:${TAKEOVER_V2}-worker-1 (started by docker compose)`].join('\n'));
    const after = await projectContainers(bed.docker, TAKEOVER_V2);
    assert.deepEqual(after.map(nameOf), [`${TAKEOVER_V2}-web-1`, `${TAKEOVER_V2}-worker-1`]);
    for (const c of after) assert.ok(!olds.includes(c.Id), `${nameOf(c)} was replaced`);
    const web = await bed.docker.getContainer(`${TAKEOVER_V2}-web-1`).inspect();
    assert.equal(web.HostConfig.PortBindings?.['80/tcp']?.[0]?.HostPort, String(port), 'the fixed port moved to the new container (stop-first)');
    let body = '';
    for (let i = 0; i < 50 && body !== 'v2'; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => '').then((t) => t.trim());
      if (body !== 'v2') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body, 'v2', 'the new web container answers on the fixed port');
  });

  it('a failed migration\'s one-off container is kept and listed apart, is no replica, and down removes it; a successful one leaves none', async () => {
    const dir = projectDir(MIGRATE, {
      'docker-compose.yml': `name: ${MIGRATE}
services:
  api:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
    init: true
`,
    });
    const spec = load(dir);
    await run<DeployResult>('deploy', { spec });
    let kept = '';
    await assert.rejects(run('migrate', { project: MIGRATE, service: 'api', command: ['sh', '-c', 'echo "half-way"; exit 4'] }), (err: unknown) => {
      const message = failureMessage(err);
      const match = /Last lines of (truthmig-api-run-[0-9a-f]+) \(kept for docker logs; remove it with docker rm -f \1 or dockflow down -p truthmig\):\nhalf-way/.exec(message);
      assert.ok(match, message);
      kept = match[1];
      return true;
    });
    const oneOff = await bed.docker.getContainer(kept).inspect();
    assert.equal(oneOff.Config.Labels[Label.oneoff], 'True');
    assert.equal((await bed.docker.getContainer(`${MIGRATE}-api-1`).inspect()).Config.Labels[Label.oneoff], 'False', 'services carry oneoff False, as compose does');

    const ps = await runCli(['ps', '-p', MIGRATE, '--json'], cliEnv);
    assert.equal(ps.code, 0, ps.stderr);
    const status = JSON.parse(ps.stdout);
    assert.deepEqual(
      status.containers.map((c: { container: string; oneoff: boolean }) => [c.container, c.oneoff]),
      [[`${MIGRATE}-api-1`, false]],
      'the one-off is not among the service\'s containers',
    );
    assert.deepEqual(
      status.oneOffs.map((c: { service: string; container: string; oneoff: boolean; state: string; exitCode?: number; remove: string }) => [c.service, c.container, c.oneoff, c.state, c.exitCode, c.remove]),
      [['api', kept, true, 'exited', 4, `docker rm -f ${kept}`]],
    );
    const text = await runCli(['ps', '-p', MIGRATE], cliEnv);
    assert.match(text.stdout, new RegExp(`one-off containers \\(not replicas; remove with docker rm -f NAME or dockflow down -p ${MIGRATE}\\):\\n\\s+SERVICE.*\\n\\s+api\\s+${kept}\\s+exited \\(4\\)`));

    // Not a replica: a redeploy plans nothing, and the host verification before recording passes.
    const redeploy = await run<DeployResult>('deploy', { spec });
    assert.equal(redeploy.operations, 0, redeploy.plan);

    const ok = await run<MigrateResult>('migrate', { project: MIGRATE, service: 'api', command: ['sh', '-c', 'echo done'] });
    assert.equal(ok.output, 'done');
    await assert.rejects(bed.docker.getContainer(ok.container).inspect(), 'a successful migration removes its one-off container (run --rm)');

    const down = await runCli(['down', '-p', MIGRATE], cliEnv);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`container:${kept}`));
    assert.deepEqual(await projectContainers(bed.docker, MIGRATE), [], 'down removed the kept one-off too');
  });
});
