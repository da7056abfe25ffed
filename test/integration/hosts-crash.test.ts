/**
 * A host crashes in the middle of a 3-host update: its dockerd, its
 * containerd and its containers are SIGKILLed together with its worker
 * process, and the machine comes back a few seconds later (a new dockerd on
 * the same data root, a new worker). The operation must end with the whole
 * stack on one revision: the new one on every host, or the previous one on
 * every host, never a mix; each host is checked on its own engine.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { TEST_IMAGE, killHard, nameOf, projectContainers, projectDir, removeProject, runCli, spawnWorker, startTestBed, type TestBed } from '../support/harness';
import { loadImages, startHostWorkers, startSimulatedHosts, stopSimulatedHosts, type HostWorkers, type SimulatedHost } from '../support/hosts';

const TASK_QUEUE = 'hosts-bed-crash';
const PROJECT = 'hosts-bed-crash';

/** db on host-1 (healthy `dbDelay` s after it starts), api on host-2 after db is healthy, web on host-3 after api. */
function compose(version: string, dbDelay = 0): string {
  const service = (name: string, host: string, extra: string) => `
  ${name}:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "sleep ${name === 'db' ? dbDelay : 0}; touch /tmp/ready; exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 30}
    deploy:
      placement: {constraints: ["node.hostname == ${host}"]}
      update_config: {failure_action: rollback}${extra}`;
  return `services:${service('db', 'host-1', '')}${service('api', 'host-2', '\n    depends_on: {db: {condition: service_healthy}}')}${service('web', 'host-3', '\n    depends_on: {api: {condition: service_healthy}}')}\n`;
}

/** Each of the host's project containers with its VERSION and state. */
async function containersOf(docker: Docker): Promise<string[]> {
  const out: string[] = [];
  for (const c of await projectContainers(docker, PROJECT)) {
    const env = (await docker.getContainer(c.Id).inspect()).Config.Env ?? [];
    out.push(`${nameOf(c)} v${env.find((e) => e.startsWith('VERSION='))?.slice('VERSION='.length)} ${c.State}`);
  }
  return out;
}

describe('a host crashes (dockerd and worker killed) in the middle of a 3-host update', () => {
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let host2Worker: ChildProcess | undefined;
  let env: Record<string, string>;
  const started = Date.now();

  const startHost2Worker = async () => {
    host2Worker = await spawnWorker(bed, {
      DOCKFLOW_HOST: 'host-2',
      DOCKER_HOST: `unix://${hosts[1].daemon.socketPath}`,
      DOCKFLOW_STATE_DIR: hosts[1].stateDir,
      DOCKFLOW_NOTIFY: '',
    });
  };

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    hosts = await startSimulatedHosts(bed.stateDir, [{ name: 'host-1' }, { name: 'host-2' }, { name: 'host-3' }]);
    for (const host of hosts) await loadImages(bed.docker, host.docker, [TEST_IMAGE]);
    // host-1 and host-3 in this process; host-2's worker is a process of its own, to be SIGKILLed.
    workers = await startHostWorkers(bed, [hosts[0], hosts[2]]);
    await startHost2Worker();
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    console.log(`test bed with 3 hosts up in ${Date.now() - started} ms`);
  });

  after(async () => {
    for (const host of hosts ?? []) await removeProject(host.docker, PROJECT).catch(() => undefined);
    if (host2Worker) await killHard(host2Worker);
    await workers?.stopAll();
    await stopSimulatedHosts(hosts ?? []);
    await bed?.teardown();
    console.log(`hosts-crash.test.ts took ${Date.now() - started} ms`);
  });

  it('ends with every host on the same revision, each checked on its own engine', async () => {
    const dir = projectDir(PROJECT, { 'docker-compose.yml': compose('1') });
    const file = path.join(dir, 'docker-compose.yml');
    const first = await runCli(['deploy', '-f', file], env);
    assert.equal(first.code, 0, first.stderr);

    // db takes 5 s to be healthy at version 2; api (host-2) waits for it: host-2 crashes meanwhile.
    fs.writeFileSync(file, compose('2', 5));
    const deploying = runCli(['deploy', '-f', file], env);
    const deadline = Date.now() + 120_000;
    while (!(await containersOf(hosts[0].docker)).some((c) => c.startsWith(`${PROJECT}-db-1 v2 running`))) {
      assert.ok(Date.now() < deadline, 'db never ran version 2 on host-1');
      await new Promise((r) => setTimeout(r, 200));
    }
    await killHard(host2Worker!);
    await hosts[1].daemon.kill();
    await assert.rejects(hosts[1].docker.ping(), 'host-2 is down');
    await new Promise((r) => setTimeout(r, 3000));
    // The machine boots: its dockerd first, then its worker (which takes back what the dead one held).
    await hosts[1].daemon.start();
    await startHost2Worker();
    const run = await deploying;

    const states = await Promise.all(hosts.map((h) => containersOf(h.docker)));
    const expected = run.code === 0 ? '2' : '1';
    assert.ok(run.code === 0 || /rolled back to revision 1/.test(run.stderr), `exit ${run.code}: ${run.stderr}`);
    assert.deepEqual(states, [[`${PROJECT}-db-1 v${expected} running`], [`${PROJECT}-api-1 v${expected} running`], [`${PROJECT}-web-1 v${expected} running`]], `deploy exited ${run.code}:\n${run.stderr}`);
    console.log(`the deploy ${run.code === 0 ? 'completed at version 2' : 'rolled back to version 1'} on every host`);

    // Each host's ledger agrees on the stack revision in place.
    const ledgers = hosts.map((h) => fs.readdirSync(path.join(h.stateDir, 'projects', PROJECT, 'revisions')).sort());
    assert.deepEqual(ledgers[1], ledgers[0]);
    assert.deepEqual(ledgers[2], ledgers[0]);
  });
});
