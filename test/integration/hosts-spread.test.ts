/**
 * One service's replicas spread over two hosts (src/plan/placement.ts):
 * two private dockerds with a worker each, both in zone eu, and the real
 * CLI. Deploy puts web-1 and web-3 on host-1 and web-2 on host-2; an update
 * with parallelism 1 replaces them one at a time across the hosts, in
 * replica order; a replica unhealthy on host-2 puts the whole stack back on
 * both hosts; ps, rollback and down act on each host's part.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, buildImage, nameOf, projectContainers, projectDir, removeProject, runCli, startTestBed, type TestBed } from '../support/harness';
import { loadImages, startHostWorkers, startSimulatedHosts, stopSimulatedHosts, type HostWorkers, type SimulatedHost } from '../support/hosts';

const TASK_QUEUE = 'it-hosts-spread';
const PROJECT = 'hosts-spread-it';
const FLAG_VOLUME = `${PROJECT}-flag`;
const NEW_IMAGE = `${PROJECT}/app:2`;

/**
 * web: 3 replicas where the zone is eu (both hosts), at most 2 per host,
 * rolled one at a time, stop-first, back on failure. A replica is unhealthy
 * when its host's flag volume holds `bad-<VERSION>` (a check that fails at once; the long
 * timeout keeps a loaded machine from failing the others).
 */
function compose(version: string, options: { image?: string; replicas?: number; max?: number } = {}): string {
  return `
services:
  web:
    image: ${options.image ?? TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    healthcheck: {test: ["CMD-SHELL", "test ! -f /flag/bad-$$VERSION"], interval: 1s, timeout: 10s, retries: 1}
    volumes: ["flag:/flag"]
    deploy:
      replicas: ${options.replicas ?? 3}
      placement: {constraints: ["node.labels.zone == eu"], max_replicas_per_node: ${options.max ?? 2}}
      update_config: {parallelism: 1, order: stop-first, failure_action: rollback}
volumes:
  flag: {external: true, name: ${FLAG_VOLUME}}
`;
}

interface Replica {
  version: string;
  image: string;
  created: number;
  started: number;
  state: string;
}

async function replicas(docker: Docker): Promise<Record<string, Replica>> {
  const out: Record<string, Replica> = {};
  for (const c of await projectContainers(docker, PROJECT)) {
    const info = await docker.getContainer(c.Id).inspect();
    out[nameOf(c)] = {
      version: (info.Config.Env ?? []).find((e) => e.startsWith('VERSION='))?.slice('VERSION='.length) ?? '',
      image: info.Image,
      created: Date.parse(info.Created),
      started: Date.parse(info.State.StartedAt),
      state: info.State.Status,
    };
  }
  return out;
}

/** name → version (or another field) of every replica on the host. */
async function field(docker: Docker, key: keyof Replica): Promise<Record<string, string | number>> {
  return Object.fromEntries(Object.entries(await replicas(docker)).map(([name, r]) => [name, r[key]]));
}

const web = (n: number) => `${PROJECT}-web-${n}`;

describe('replicas of one service spread over two hosts', () => {
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let env: Record<string, string>;
  let file: string;
  let oldImage: string;
  let newImage: string;
  const started = Date.now();

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    newImage = await buildImage(bed.docker, NEW_IMAGE, `FROM ${TEST_IMAGE}\nLABEL ${PROJECT}.build=2\n`);
    oldImage = (await bed.docker.getImage(TEST_IMAGE).inspect()).Id;
    hosts = await startSimulatedHosts(bed.stateDir, [
      { name: 'host-1', labels: { zone: 'eu' } },
      { name: 'host-2', labels: { zone: 'eu' } },
    ]);
    for (const host of hosts) {
      await removeProject(host.docker, PROJECT);
      await loadImages(bed.docker, host.docker, [TEST_IMAGE, NEW_IMAGE]);
      await host.docker.createVolume({ Name: FLAG_VOLUME });
    }
    workers = await startHostWorkers(bed, hosts);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose('1') }), 'docker-compose.yml');
    console.log(`test bed with 2 hosts up in ${Date.now() - started} ms`);
  });

  after(async () => {
    for (const host of hosts ?? []) {
      await removeProject(host.docker, PROJECT).catch(() => undefined);
      await host.docker.getVolume(FLAG_VOLUME).remove().catch(() => undefined);
    }
    await workers?.stopAll();
    await stopSimulatedHosts(hosts ?? []);
    await bed?.docker.getImage(NEW_IMAGE).remove().catch(() => undefined);
    await bed?.teardown();
    console.log(`hosts-spread.test.ts took ${Date.now() - started} ms`);
  });

  it('refuses replicas the hosts cannot hold under max_replicas_per_node, naming the service and the key, before anything starts', async () => {
    const bad = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose('1', { replicas: 5 }) }), 'docker-compose.yml');
    const run = await runCli(['deploy', '-f', bad], env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /services\.web\.deploy\.placement\.max_replicas_per_node: service web has 5 replicas but max_replicas_per_node 2 on 2 host\(s\)/);
    for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, PROJECT), [], host.name);
    fs.writeFileSync(file, compose('1'));
  });

  it('deploys the replicas spread over both hosts, in replica order by host name, and a re-run changes nothing', async () => {
    const run = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { hosts: Record<string, string>; spread?: Record<string, string[]>; revision: number; services: Record<string, string[]> };
    assert.deepEqual(result.hosts, { web: 'host-1' });
    assert.deepEqual(result.spread, { web: ['host-1', 'host-2'] });
    assert.deepEqual(result.services.web, [web(1), web(2), web(3)]);
    assert.equal(result.revision, 1);
    assert.deepEqual(await field(hosts[0].docker, 'version'), { [web(1)]: '1', [web(3)]: '1' });
    assert.deepEqual(await field(hosts[1].docker, 'version'), { [web(2)]: '1' });
    assert.deepEqual(await projectContainers(bed.docker, PROJECT), [], 'nothing on the main engine');
    // Each host's ledger records the stack revision with the spread.
    for (const host of hosts) {
      const revision = JSON.parse(fs.readFileSync(path.join(host.stateDir, 'projects', PROJECT, 'revisions', '000001.json'), 'utf8'));
      assert.deepEqual([revision.placement, revision.spread], [{ web: 'host-1' }, { web: ['host-1', 'host-2'] }], host.name);
    }
    const ids = await Promise.all(hosts.map(async (h) => (await projectContainers(h.docker, PROJECT)).map((c) => c.Id).sort()));
    const again = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).revision, 1, 'an unchanged redeploy is not a new revision');
    assert.deepEqual(await Promise.all(hosts.map(async (h) => (await projectContainers(h.docker, PROJECT)).map((c) => c.Id).sort())), ids, 'the same containers');
  });

  it('ps checks each host against its own replicas', async () => {
    const run = await runCli(['ps', '-p', PROJECT, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout) as { stackRevision: number; hosts: { host: string; ledgerRevision: number; drift: string[] }[] };
    assert.equal(status.stackRevision, 1);
    assert.deepEqual(status.hosts.map((h) => [h.host, h.ledgerRevision, h.drift]), [['host-1', 1, []], ['host-2', 1, []]]);
  });

  it('update with parallelism 1 replaces one replica at a time across the hosts, in replica order, all on the new image', async () => {
    const run = await runCli(['update', 'web', '-p', PROJECT, '--image', NEW_IMAGE, '--parallelism', '1', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { revision: number; spread?: Record<string, string[]>; plan: string };
    assert.equal(result.revision, 2);
    assert.deepEqual(result.spread, { web: ['host-1', 'host-2'] });
    assert.match(result.plan, /^host-1:\n {2}recreate container:hosts-spread-it-web-1 \(config hash changed\)\n {2}recreate container:hosts-spread-it-web-3 \(config hash changed\)$/m);
    assert.match(result.plan, /^host-2:\n {2}recreate container:hosts-spread-it-web-2 \(config hash changed\)$/m);
    const one = await replicas(hosts[0].docker);
    const two = await replicas(hosts[1].docker);
    assert.deepEqual(Object.keys(one).sort(), [web(1), web(3)]);
    assert.deepEqual(Object.keys(two), [web(2)]);
    const all = [one[web(1)], two[web(2)], one[web(3)]];
    for (const [i, r] of all.entries()) assert.equal(r.image, newImage, `${web(i + 1)} runs the new image`);
    // Batches of one, in replica order across the hosts: each replacement is created after the one before it started.
    assert.ok(all[0].started <= all[1].created && all[1].started <= all[2].created, `batch order: ${JSON.stringify(all.map((r) => [r.created, r.started]))}`);
    for (const host of hosts) {
      const revision = JSON.parse(fs.readFileSync(path.join(host.stateDir, 'projects', PROJECT, 'revisions', '000002.json'), 'utf8'));
      assert.equal(revision.images.web.id, newImage, host.name);
    }
  });

  it('a replica unhealthy on host-2 puts the whole stack back on both hosts', async () => {
    // Version 3 is unhealthy on host-2 only: web-1 on host-1 was already replaced when web-2 fails.
    const flag = await hosts[1].docker.createContainer({ Image: TEST_IMAGE, Cmd: ['touch', '/flag/bad-3'], HostConfig: { Binds: [`${FLAG_VOLUME}:/flag`] } });
    await flag.start();
    await flag.wait();
    await flag.remove();
    fs.writeFileSync(file, compose('3', { image: NEW_IMAGE }));
    const run = await runCli(['deploy', '-f', file], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /deploy of hosts-spread-it failed and was rolled back to revision 2: service web: update failed/);
    assert.match(run.stderr, /✔ stop-first replace hosts-spread-it-web-1 \(config hash changed\)/);
    assert.deepEqual(await field(hosts[0].docker, 'version'), { [web(1)]: '1', [web(3)]: '1' });
    assert.deepEqual(await field(hosts[1].docker, 'version'), { [web(2)]: '1' });
    for (const host of hosts) {
      for (const [name, r] of Object.entries(await replicas(host.docker))) {
        assert.equal(r.image, newImage, `${host.name} ${name}`);
        assert.equal(r.state, 'running', `${host.name} ${name}`);
      }
    }
  });

  it('update --scale adds the next replica on the host its slot names, and rollback puts every host back', async () => {
    const scaled = await runCli(['update', 'web', '-p', PROJECT, '--scale', '4', '--json'], env);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.deepEqual(Object.keys(await field(hosts[1].docker, 'version')).sort(), [web(2), web(4)]);
    assert.deepEqual(Object.keys(await field(hosts[0].docker, 'version')).sort(), [web(1), web(3)]);
    const scaledTo = (JSON.parse(scaled.stdout) as { revision: number }).revision;

    const rolled = await runCli(['rollback', '-p', PROJECT, '--to', '1', '--json'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    const result = JSON.parse(rolled.stdout) as { restored: number; revision: number };
    assert.deepEqual([result.restored, result.revision], [1, scaledTo + 1]);
    assert.deepEqual(await field(hosts[0].docker, 'image'), { [web(1)]: oldImage, [web(3)]: oldImage });
    assert.deepEqual(await field(hosts[1].docker, 'image'), { [web(2)]: oldImage });
    const status = JSON.parse((await runCli(['ps', '-p', PROJECT, '--json'], env)).stdout) as { hosts: { host: string; drift: string[] }[] };
    assert.deepEqual(status.hosts.map((h) => [h.host, h.drift]), [['host-1', []], ['host-2', []]]);
  });

  it('down removes the replicas from both hosts', async () => {
    const down = await runCli(['down', '-p', PROJECT], env);
    assert.equal(down.code, 0, down.stderr);
    for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, PROJECT), [], host.name);
  });
});
