/**
 * Right after Temporal restarts, its poller list is empty until each worker
 * polls again: the liveness look-up before a deploy (workflows/host-liveness.ts)
 * asks again for a while (activities/temporal.ts hostsLastSeen) instead of
 * taking a live host as down, and still takes a host that never comes back
 * as down within that while, not the silence bound.
 *
 * Two simulated hosts, each with a `dockflow worker --host` process, on a dev
 * server restarted on the same database and port. host-2's worker is frozen
 * (SIGSTOP) across the restart, so it cannot have polled the new server when
 * the deploy looks, whatever the machine's speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Connection, WorkflowClient, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT, TEST_IMAGE, dockerOrFail, freePort, killHard, nameOf, projectContainers, projectDir, removeProject, spawnPolling, workflowBundlePath } from '../support/harness';
import { loadImages, startSimulatedHosts, stopSimulatedHosts, type SimulatedHost } from '../support/hosts';
import { startDevServer } from '../../src/temporal/dev-server';
import { loadStack } from '../../src/compose';
import { UNLISTED_POLL_GRACE_MS } from '../../activities/temporal';
import { LONG_POLL_SECONDS } from '../../workflows/host-liveness';
import { hostRegistrationId } from '../../src/model/hosts';

const TASK_QUEUE = 'it-hosts-restart';
const PROJECT = 'hostsrestart-it';

function compose(version: string): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == host-2"]}
`;
}

/** Whether the deploy's liveness look-up is scheduled (a started event is written only when a retried activity closes). */
async function lookUpStarted(handle: WorkflowHandle): Promise<boolean> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'hostsLastSeen');
}

describe('a Temporal restart does not read as hosts down', () => {
  let env: TestWorkflowEnvironment;
  let dbFilename: string;
  let port: number;
  let hosts: SimulatedHost[];
  const workers = new Map<string, ChildProcess>();
  let file: string;
  let stateDir: string;

  let bundlePath: string;
  /** `dockflow worker --host NAME` as its own process, so it can be frozen. */
  const spawnHostWorker = (h: SimulatedHost) =>
    spawnPolling([path.join(REPO_ROOT, 'workers', 'main.ts')], {
      cwd: REPO_ROOT,
      tsx: true,
      env: {
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: 'default',
        DOCKFLOW_TASK_QUEUE: TASK_QUEUE,
        DOCKFLOW_WORKFLOW_BUNDLE: bundlePath,
        DOCKFLOW_HOST: h.name,
        DOCKER_HOST: `unix://${h.daemon.socketPath}`,
        DOCKFLOW_STATE_DIR: h.stateDir,
        DOCKFLOW_NOTIFY: '',
      },
    });
  const clientOf = async () => new WorkflowClient({ connection: await Connection.connect({ address: env.address }), namespace: 'default' });
  const hostInfos = () => hosts.map((h) => ({ name: h.name, labels: h.labels }));
  const deploy = async (version: string) => {
    fs.writeFileSync(file, compose(version));
    const client = await clientOf();
    return client.execute('deploy', {
      taskQueue: TASK_QUEUE,
      workflowId: `deploy-${PROJECT}-${version}-${Date.now()}`,
      args: [{ spec: loadStack({ files: [file] }).spec, hosts: hostInfos() }],
    });
  };
  const versionOnHost2 = async () => {
    const [web] = await projectContainers(hosts[1].docker, PROJECT);
    if (!web) return undefined;
    const inspected = await hosts[1].docker.getContainer(web.Id).inspect();
    return [nameOf(web), inspected.Config.Env?.find((e) => e.startsWith('VERSION='))];
  };
  const restartTemporal = async () => {
    await env.teardown();
    env = await startDevServer({ dbFilename, port });
  };

  before(async () => {
    const docker = await dockerOrFail();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-restart-'));
    dbFilename = path.join(stateDir, 'temporal.db');
    port = await freePort();
    env = await startDevServer({ dbFilename, port });
    bundlePath = await workflowBundlePath();
    hosts = await startSimulatedHosts(stateDir, [{ name: 'host-1' }, { name: 'host-2' }]);
    for (const h of hosts) {
      await removeProject(h.docker, PROJECT);
      await loadImages(docker, h.docker, [TEST_IMAGE]);
    }
    for (const h of hosts) workers.set(h.name, await spawnHostWorker(h));
    const registered = (await (await clientOf()).getHandle(hostRegistrationId('host-2')).describe()).startTime.getTime();
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose('1') }), 'docker-compose.yml');
    await deploy('1');
    // With no poll listed, a host counts as down only once its registration is older than a long poll
    // (LONG_POLL_SECONDS): before that, the look-up cannot tell, and the bug cannot show.
    const wait = registered + (LONG_POLL_SECONDS + 5) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  });

  after(async () => {
    for (const w of workers.values()) {
      w.kill('SIGCONT');
      await killHard(w);
    }
    for (const h of hosts ?? []) await removeProject(h.docker, PROJECT).catch(() => undefined);
    if (hosts) await stopSimulatedHosts(hosts);
    await env?.teardown();
  });

  it('a host whose worker polls again a few seconds after the restart is not taken as down', async () => {
    assert.deepEqual(await versionOnHost2(), [`${PROJECT}-web-1`, 'VERSION=1']);
    const host2 = workers.get('host-2')!;
    host2.kill('SIGSTOP');
    try {
      await restartTemporal();
      // host-2's worker wakes only once the look-up has started and asked at least once: the look-up
      // must still be asking then. (Waking it at a fixed time would race host-1's own reconnect.)
      fs.writeFileSync(file, compose('2'));
      const handle = await (await clientOf()).start('deploy', {
        taskQueue: TASK_QUEUE,
        workflowId: `deploy-${PROJECT}-2-${Date.now()}`,
        args: [{ spec: loadStack({ files: [file] }).spec, hosts: hostInfos() }],
      });
      const closed = handle.result().then(
        () => 'completed',
        (err: unknown) => `failed: ${err instanceof WorkflowFailedError ? err.cause?.message : String(err)}`,
      );
      let outcome: string | undefined;
      void closed.then((o) => (outcome = o));
      const deadline = Date.now() + 60_000;
      while (!outcome && !(await lookUpStarted(handle))) {
        assert.ok(Date.now() < deadline, 'the deploy did not start its look-up within 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(outcome, undefined, 'the deploy ended while host-2 had not polled the restarted server');
      host2.kill('SIGCONT');
      assert.equal(await closed, 'completed');
    } finally {
      host2.kill('SIGCONT');
    }
    assert.deepEqual(await versionOnHost2(), [`${PROJECT}-web-1`, 'VERSION=2']);
  });

  it('a host that does not poll again is still taken as down, within the look-up\'s wait', async () => {
    const host2 = workers.get('host-2')!;
    host2.kill('SIGSTOP');
    try {
      await restartTemporal();
      const started = Date.now();
      await assert.rejects(deploy('3'), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError, String(err));
        assert.match(String(err.cause?.message), /host host-2 is down: Temporal lists no poll of its worker/);
        return true;
      });
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds >= UNLISTED_POLL_GRACE_MS / 1000 - 1, `failed after ${seconds} s: before the look-up's wait was over`);
      assert.ok(seconds < 60, `failed after ${seconds} s: not before the silence bound`);
    } finally {
      host2.kill('SIGCONT');
    }
    assert.deepEqual(await versionOnHost2(), [`${PROJECT}-web-1`, 'VERSION=2'], 'nothing was touched');
  });
});
