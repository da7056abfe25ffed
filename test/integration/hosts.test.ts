/**
 * One stack across three Docker hosts on one machine: three private dockerds
 * (each in its own network namespace) with a dockflow worker each, started
 * with --host and labels, and the real CLI. Placement follows the compose
 * file's constraints, and a failure on one host puts every host back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, nameOf, projectContainers, projectDir, removeProject, runCli, startTestBed, type TestBed } from '../support/harness';
import { loadImages, startHostWorkers, startSimulatedHosts, stopSimulatedHosts, type HostWorkers, type SimulatedHost } from '../support/hosts';

const TASK_QUEUE = 'it-hosts';
const PROJECT = 'hosts-it';

/**
 * db on host-1 by name, api where the disk is ssd (host-2), web in zone us
 * (host-3); api waits for db to be healthy and web for api, across hosts. db
 * becomes healthy `dbDelay` seconds after it starts.
 */
function compose(version: string, webCheck = 'true', dbDelay = 0, webUpdate = '{failure_action: rollback, order: stop-first}'): string {
  return `
services:
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "sleep ${dbDelay}; touch /tmp/ready; exec httpd -f -p 5432 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 30}
    networks: [back]
    deploy:
      placement: {constraints: ["node.hostname == host-1"]}
  api:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 8080 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    depends_on: {db: {condition: service_healthy}}
    deploy:
      placement: {constraints: ["node.labels.disk == ssd", "node.hostname != host-1"]}
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    depends_on: [api]
    healthcheck: {test: ["CMD-SHELL", '${webCheck}'], interval: 1s, timeout: 1s, retries: 1}
    deploy:
      placement: {constraints: ["node.labels.zone == us"]}
      update_config: ${webUpdate}
networks:
  back: {}
`;
}

async function versions(docker: Docker): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of await projectContainers(docker, PROJECT)) {
    const env = (await docker.getContainer(c.Id).inspect()).Config.Env ?? [];
    out[nameOf(c)] = env.find((e) => e.startsWith('VERSION='))?.slice('VERSION='.length) ?? '';
  }
  return out;
}

describe('one stack across three hosts', () => {
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let env: Record<string, string>;
  let file: string;
  const started = Date.now();

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    hosts = await startSimulatedHosts(bed.stateDir, [
      { name: 'host-1', labels: { zone: 'eu' } },
      { name: 'host-2', labels: { zone: 'eu', disk: 'ssd' } },
      { name: 'host-3', labels: { zone: 'us' } },
    ]);
    for (const host of hosts) {
      await removeProject(host.docker, PROJECT);
      await loadImages(bed.docker, host.docker, [TEST_IMAGE]);
    }
    workers = await startHostWorkers(bed, hosts);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose('1') }), 'docker-compose.yml');
    console.log(`test bed with 3 hosts up in ${Date.now() - started} ms`);
  });

  after(async () => {
    for (const host of hosts ?? []) await removeProject(host.docker, PROJECT).catch(() => undefined);
    await workers?.stopAll();
    await stopSimulatedHosts(hosts ?? []);
    await bed?.teardown();
    console.log(`hosts.test.ts took ${Date.now() - started} ms`);
  });

  it('lists the hosts with their labels, last poll and Docker version', async () => {
    const run = await runCli(['hosts', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const { hosts: listed } = JSON.parse(run.stdout) as { hosts: { name: string; labels: Record<string, string>; taskQueue: string; lastPoll?: string; dockerVersion?: string; error?: string }[] };
    assert.deepEqual(listed.map((h) => [h.name, h.taskQueue, h.labels]), [
      ['host-1', 'it-hosts@host-1', { zone: 'eu' }],
      ['host-2', 'it-hosts@host-2', { zone: 'eu', disk: 'ssd' }],
      ['host-3', 'it-hosts@host-3', { zone: 'us' }],
    ]);
    for (const h of listed) {
      assert.equal(h.error, undefined, h.error);
      assert.match(h.dockerVersion ?? '', /^20\.10/);
      assert.ok(h.lastPoll && Date.now() - Date.parse(h.lastPoll) < 120_000, `${h.name} polled recently: ${h.lastPoll}`);
    }
  });

  it('refuses a constraint no host satisfies, naming the service and the key, before anything starts', async () => {
    const bad = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose('1').replace('node.labels.zone == us', 'node.labels.zone == asia') }), 'docker-compose.yml');
    const run = await runCli(['deploy', '-f', bad], env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /services\.web\.deploy\.placement\.constraints: no host satisfies "node\.labels\.zone == asia" for service web/);
    for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, PROJECT), [], host.name);
  });

  it('shows the plan graph per host with --dry-run', async () => {
    const run = await runCli(['deploy', '-f', file, '--dry-run'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^on host-1:\n {2}create network:hosts-it_back \(missing\)\n {2}create container:hosts-it-db-1 \(missing\) after network:hosts-it_back$/m);
    assert.match(run.stdout, /^on host-2:\n(?: {2}.*\n)*? {2}create container:hosts-it-api-1 \(missing\)/m);
    assert.match(run.stdout, /^on host-3:\n(?: {2}.*\n)*? {2}create container:hosts-it-web-1 \(missing\)/m);
  });

  it('deploys each service to the host its constraints name', async () => {
    const run = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { hosts: Record<string, string>; revision: number };
    assert.deepEqual(result.hosts, { api: 'host-2', db: 'host-1', web: 'host-3' });
    assert.equal(result.revision, 1);
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '1' });
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '1' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' });
    assert.deepEqual(await projectContainers(bed.docker, PROJECT), [], 'nothing on the main engine');
    // Every host's ledger keeps a copy of the stack revision with the placement.
    for (const host of hosts) {
      const revision = JSON.parse(fs.readFileSync(path.join(host.stateDir, 'projects', PROJECT, 'revisions', '000001.json'), 'utf8'));
      assert.deepEqual(revision.placement, { api: 'host-2', db: 'host-1', web: 'host-3' }, host.name);
    }
    const listed = JSON.parse((await runCli(['hosts', '--json'], env)).stdout) as { hosts: { name: string; projects: string[] }[] };
    assert.deepEqual(listed.hosts.map((h) => h.projects), [[PROJECT], [PROJECT], [PROJECT]]);
  });

  it('a service unhealthy on host-3 puts hosts 1 and 2 back to the previous revision too', async () => {
    fs.writeFileSync(file, compose('2', 'test "$$VERSION" != 2'));
    const run = await runCli(['deploy', '-f', file], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /deploy of hosts-it failed and was rolled back to revision 1: service web: update failed/);
    // host-1 and host-2 had taken version 2 (their services were healthy); all are back at 1.
    assert.match(run.stderr, /✔ stop-first replace hosts-it-db-1 \(config hash changed\)/);
    assert.match(run.stderr, /✔ stop-first replace hosts-it-api-1 \(config hash changed\)/);
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '1' });
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '1' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' });
    for (const host of hosts) {
      const running = await projectContainers(host.docker, PROJECT);
      assert.ok(running.every((c) => c.State === 'running'), `${host.name}: ${running.map((c) => `${nameOf(c)} ${c.State}`).join(', ')}`);
    }
  });

  it('a host whose worker is silent past --host-timeout fails the deploy, naming it, and the other hosts go back', async () => {
    try {
      // host-3 answers the images, planning and network steps; its worker stops once db runs version 2
      // on host-1, while api waits the 6 s db takes to be healthy, so web's steps find nobody.
      fs.writeFileSync(file, compose('2', 'true', 6));
      const deploying = runCli(['deploy', '-f', file, '--host-timeout', '5'], env);
      const deadline = Date.now() + 120_000;
      while ((await versions(hosts[0].docker))['hosts-it-db-1'] !== '2') {
        assert.ok(Date.now() < deadline, 'db never reached version 2 on host-1');
        await new Promise((r) => setTimeout(r, 200));
      }
      await workers.stop('host-3');
      const run = await deploying;
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /deploy of hosts-it failed: host host-3 did not answer: its worker took no \w+ step within 5 s.*host-1, host-2 went back to revision 1; host-3 was not reached/);
      assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '1' });
      assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '1' });
      assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' });
    } finally {
      await workers.start('host-3');
    }
  });

  it('rollback acts on every host', async () => {
    fs.writeFileSync(file, compose('2'));
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal(JSON.parse(deployed.stdout).revision, 2);
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '2' });

    const rolled = await runCli(['rollback', '-p', PROJECT, '--json'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    const result = JSON.parse(rolled.stdout) as { restored: number; revision: number };
    assert.deepEqual([result.restored, result.revision], [1, 3]);
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '1' });
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '1' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' });
    for (const host of hosts) assert.ok(fs.existsSync(path.join(host.stateDir, 'projects', PROJECT, 'revisions', '000003.json')), host.name);
  });

  it('failure_action pause stops and says which host is on which revision', async () => {
    // web (host-3) rolls start-first and its replacement never gets healthy: the old one keeps serving.
    fs.writeFileSync(file, compose('4', 'test "$$VERSION" != 4', 0, '{failure_action: pause, order: start-first}'));
    const run = await runCli(['deploy', '-f', file], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /update paused/);
    assert.match(run.stderr, /hosts now: host-1: new spec \(not recorded as a revision\); host-2: new spec \(not recorded as a revision\); host-3: revision 3/);
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '4' });
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '4' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' });
    assert.ok(!fs.existsSync(path.join(hosts[0].stateDir, 'projects', PROJECT, 'revisions', '000004.json')), 'a paused deploy records no revision');
  });

  it('rollback with one host gone rolls the others back from their own ledgers and names the missing host; ps shows it drifted until the next deploy converges it', async () => {
    // host-3's worker and dockerd are down while the rollback to revision 2 runs.
    await workers.stop('host-3');
    let rolled: Awaited<ReturnType<typeof runCli>> | undefined;
    try {
      await hosts[2].daemon.restart(async () => {
        const deadline = Date.now() + 60_000;
        while (await hosts[2].docker.ping().then(() => true, () => false)) {
          assert.ok(Date.now() < deadline, 'host-3 dockerd did not stop');
          await new Promise((r) => setTimeout(r, 200));
        }
        rolled = await runCli(['rollback', '-p', PROJECT, '--to', '2', '--host-timeout', '5', '--json'], env);
      });
    } finally {
      await workers.start('host-3');
    }
    assert.ok(rolled);
    assert.equal(rolled.code, 0, rolled.stderr);
    const result = JSON.parse(rolled.stdout) as { restored: number; revision: number; unreachable?: string[] };
    assert.deepEqual([result.restored, result.revision, result.unreachable], [2, 4, ['host-3']]);
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '2' });
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '2' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '1' }, 'host-3 was not touched');
    assert.ok(!fs.existsSync(path.join(hosts[2].stateDir, 'projects', PROJECT, 'revisions', '000004.json')), 'host-3 ledger was not reached');

    // history reads every host's ledger: with host-3 silent, the others' copies, and host-3 named.
    await workers.stop('host-3');
    try {
      const partial = await runCli(['history', '-p', PROJECT, '--host-timeout', '5', '--json'], env);
      assert.equal(partial.code, 0, partial.stderr);
      const listed = JSON.parse(partial.stdout) as { revisions: { number: number; operation: string }[]; unreachable?: string[] };
      assert.deepEqual(listed.revisions.map((r) => [r.number, r.operation]), [[1, 'deploy'], [2, 'deploy'], [3, 'rollback'], [4, 'rollback']]);
      assert.deepEqual(listed.unreachable, ['host-3']);
      const text = await runCli(['history', '-p', PROJECT, '--host-timeout', '5'], env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /not reached: host-3 \(ledger not read\)/);
    } finally {
      await workers.start('host-3');
    }

    // Back: ps shows host-3 drifted (its ledger behind, web on version 1) until an operation converges it.
    const drifted = await runCli(['ps', '-p', PROJECT], env);
    assert.equal(drifted.code, 0, drifted.stderr);
    assert.match(drifted.stdout, /hosts \(stack at revision 4\):\n {4}host-1: revision 4, in sync\n {4}host-2: revision 4, in sync\n {4}host-3: drifted \(its ledger is at revision 3, the stack at 4; service web: /);
    fs.writeFileSync(file, compose('2'));
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal(JSON.parse(deployed.stdout).revision, 5);
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '2' });
    const synced = await runCli(['ps', '-p', PROJECT, '--json'], env);
    assert.equal(synced.code, 0, synced.stderr);
    const status = JSON.parse(synced.stdout) as { stackRevision: number; hosts: { host: string; ledgerRevision: number; drift: string[] }[] };
    assert.equal(status.stackRevision, 5);
    assert.deepEqual(status.hosts.map((h) => [h.host, h.ledgerRevision, h.drift]), [['host-1', 5, []], ['host-2', 5, []], ['host-3', 5, []]]);
  });

  it('update scales a service on its host and records the revision on every host', async () => {
    const run = await runCli(['update', 'api', '-p', PROJECT, '--scale', '2', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { revision: number; hosts: Record<string, string>; plan: string };
    assert.equal(result.revision, 6);
    assert.deepEqual(result.hosts, { api: 'host-2', db: 'host-1', web: 'host-3' });
    assert.match(result.plan, /^host-2:\n(?: {2}.*\n)*? {2}create container:hosts-it-api-2 \(missing\)$/m);
    assert.deepEqual(await versions(hosts[1].docker), { 'hosts-it-api-1': '2', 'hosts-it-api-2': '2' });
    assert.deepEqual(await versions(hosts[0].docker), { 'hosts-it-db-1': '2' });
    assert.deepEqual(await versions(hosts[2].docker), { 'hosts-it-web-1': '2' });
    for (const host of hosts) {
      const revision = JSON.parse(fs.readFileSync(path.join(host.stateDir, 'projects', PROJECT, 'revisions', '000006.json'), 'utf8'));
      assert.equal(revision.operation, 'update', host.name);
      assert.equal(revision.spec.services.api.deploy.replicas, 2, host.name);
    }
  });

  it('down removes the project from every host', async () => {
    const down = await runCli(['down', '-p', PROJECT], env);
    assert.equal(down.code, 0, down.stderr);
    for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, PROJECT), [], host.name);
  });
});
