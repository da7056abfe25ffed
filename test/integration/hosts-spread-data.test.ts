/**
 * A spread service's named volume across two simulated Docker hosts: web's
 * two replicas run one on each host, each with its own copy of volume
 * `data` (there is no volume between hosts). A backup takes each copy on its
 * host as a data set of its own; a restore puts each back on the host it
 * came from, byte for byte; copies that no longer match where web runs,
 * and a migration of web, are refused before anything is touched. db, on
 * one host with its own volume, is backed up and restored as always.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, execIn, nameOf, projectContainers, projectDir, runCli } from '../support/harness';
import { type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';

const TASK_QUEUE = 'it-hosts-spread-data';
const PROJECT = 'hosts-spread-data-it';
// Names of their own: other test files simulate host-1 … host-N at the same time.
const H1 = 'sd-host-1';
const H2 = 'sd-host-2';
const WEB1 = `${PROJECT}-web-1`;
const WEB2 = `${PROJECT}-web-2`;
const DB = `${PROJECT}-db-1`;

/** web: 2 replicas wherever the zone is eu (both hosts: web-1 on sd-host-1, web-2 on sd-host-2), stopped while archived; db on sd-host-2. */
function compose(replicas: number): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
    deploy:
      replicas: ${replicas}
      placement: {constraints: ["node.labels.zone == eu"]}
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    stop_grace_period: 1s
    volumes: ["db-data:/data"]
    deploy:
      placement: {constraints: ["node.hostname == ${H2}"]}
volumes:
  data: {}
  db-data: {}
`;
}

/** Every file under /data in a container with its sha256, sorted: what "byte for byte" compares. */
function digest(docker: Docker, container: string): Promise<string> {
  return execIn(docker, container, ['sh', '-c', 'cd /data && find . -type f | sort | xargs sha256sum']);
}

interface ManifestFile {
  archives: { key: string; host?: string; hostCopy?: true; archive: string }[];
}

describe("a spread service's named volume on every host", () => {
  let hostsBed: HostsBed;
  let hosts: SimulatedHost[];
  let env: Record<string, string>;
  let file = '';
  let backupId = '';
  const digests: Record<string, string> = {};
  const started = Date.now();
  const manifestPath = (host: SimulatedHost, id = backupId) => path.join(host.stateDir, 'backups', PROJECT, id, 'manifest.json');
  const startedAt = async (host: SimulatedHost, name: string) => (await host.docker.getContainer(name).inspect()).State.StartedAt;

  before(async () => {
    hostsBed = await startHostsBed(TASK_QUEUE, [
      { name: H1, labels: { zone: 'eu' } },
      { name: H2, labels: { zone: 'eu' } },
    ], [PROJECT]);
    ({ hosts, env } = hostsBed);
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose(2) }), 'docker-compose.yml');
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual((await projectContainers(hosts[0].docker, PROJECT)).map(nameOf), [WEB1]);
    assert.deepEqual((await projectContainers(hosts[1].docker, PROJECT)).map(nameOf).sort(), [DB, WEB2]);
    // Different bytes in each host's copy of data, and in db-data.
    await execIn(hosts[0].docker, WEB1, ['sh', '-c', 'mkdir -p /data/sub && head -c 204800 /dev/urandom > /data/blob && echo one > /data/sub/a.txt']);
    await execIn(hosts[1].docker, WEB2, ['sh', '-c', 'head -c 102400 /dev/urandom > /data/blob && echo two > /data/b.txt']);
    await execIn(hosts[1].docker, DB, ['sh', '-c', 'echo rows > /data/rows']);
    digests[H1] = await digest(hosts[0].docker, WEB1);
    digests[H2] = await digest(hosts[1].docker, WEB2);
    digests.db = await digest(hosts[1].docker, DB);
    assert.notEqual(digests[H1], digests[H2]);
  });

  after(async () => {
    await hostsBed?.teardown();
    console.log(`hosts-spread-data.test.ts took ${Date.now() - started} ms`);
  });

  it('backup --dry-run shows each copy on its host', async () => {
    const run = await runCli(['backup', '-p', PROJECT, '--dry-run', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { hosts: { host: string; dataSets: string[]; stop: string[] }[] };
    assert.deepEqual(
      plan.hosts.map((h) => [h.host, h.dataSets, h.stop]),
      [
        [H1, [`volume data (this host's copy, volume-data.on-${H1}.tar.gz)`], [WEB1]],
        [H2, [`volume data (this host's copy, volume-data.on-${H2}.tar.gz)`, 'volume db-data'], [WEB2]],
      ],
    );
  });

  it("backs up each host's copy as its own data set, stopping only that host's replica, the manifest one entry per copy", async () => {
    const run = await runCli(['backup', '-p', PROJECT, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { backupId: string; archives: { key: string; host?: string }[]; stopped: string[] };
    backupId = result.backupId;
    assert.deepEqual(result.archives.map((a) => [a.key, a.host]), [['data', H1], ['data', H2], ['db-data', H2]]);
    assert.deepEqual([...result.stopped].sort(), [WEB1, WEB2]);
    const manifest = JSON.parse(fs.readFileSync(manifestPath(hosts[1]), 'utf8')) as ManifestFile;
    assert.deepEqual(
      manifest.archives.map((a) => [a.key, a.host, a.hostCopy ?? false, a.archive]),
      [
        ['data', H1, true, `volume-data.on-${H1}.tar.gz`],
        ['data', H2, true, `volume-data.on-${H2}.tar.gz`],
        ['db-data', H2, false, 'volume-db-data.tar.gz'],
      ],
    );
    // Each copy's archive is on its own host's disk, and only there.
    const dir = (h: SimulatedHost) => path.dirname(manifestPath(h));
    assert.ok(fs.existsSync(path.join(dir(hosts[0]), `volume-data.on-${H1}.tar.gz`)));
    assert.ok(fs.existsSync(path.join(dir(hosts[1]), `volume-data.on-${H2}.tar.gz`)));
    assert.equal(fs.existsSync(path.join(dir(hosts[0]), `volume-data.on-${H2}.tar.gz`)), false);
    assert.equal(fs.existsSync(path.join(dir(hosts[1]), `volume-data.on-${H1}.tar.gz`)), false);
    assert.equal((await hosts[0].docker.getContainer(WEB1).inspect()).State.Status, 'running');
    assert.equal((await hosts[1].docker.getContainer(WEB2).inspect()).State.Status, 'running');
  });

  it('restores each copy on the host it came from, byte for byte', async () => {
    await execIn(hosts[0].docker, WEB1, ['sh', '-c', 'rm -rf /data/sub && echo changed > /data/blob']);
    await execIn(hosts[1].docker, WEB2, ['sh', '-c', 'echo changed > /data/b.txt && echo extra > /data/new.txt']);
    await execIn(hosts[1].docker, DB, ['sh', '-c', 'echo gone > /data/rows']);
    assert.notEqual(await digest(hosts[0].docker, WEB1), digests[H1]);
    assert.notEqual(await digest(hosts[1].docker, WEB2), digests[H2]);
    const run = await runCli(['restore', '-p', PROJECT, backupId, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).restored, ['data', 'db-data']);
    assert.equal(await digest(hosts[0].docker, WEB1), digests[H1]);
    assert.equal(await digest(hosts[1].docker, WEB2), digests[H2]);
    assert.equal(await digest(hosts[1].docker, DB), digests.db);
  });

  it('restores every copy of the volume named with --volume', async () => {
    await execIn(hosts[0].docker, WEB1, ['sh', '-c', 'echo again > /data/blob']);
    await execIn(hosts[1].docker, WEB2, ['sh', '-c', 'echo again > /data/blob']);
    const run = await runCli(['restore', '-p', PROJECT, backupId, '--volume', 'data', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).restored, ['data']);
    assert.equal(await digest(hosts[0].docker, WEB1), digests[H1]);
    assert.equal(await digest(hosts[1].docker, WEB2), digests[H2]);
  });

  it('refuses a migration of the spread service, naming it, the volume and the hosts, and touches nothing', async () => {
    const before = [await startedAt(hosts[0], WEB1), await startedAt(hosts[1], WEB2)];
    const listed = fs.readdirSync(path.dirname(path.dirname(manifestPath(hosts[0])))).length;
    const run = await runCli(['migrate', '-p', PROJECT, 'web', '--', 'sh', '-c', 'echo migrated > /data/migrated.txt'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`migrate of ${PROJECT} refused before anything was touched: service web mounts volume data, which is held as one copy per host \\(${H1}, ${H2}, where web spreads\\)`),
    );
    assert.deepEqual([await startedAt(hosts[0], WEB1), await startedAt(hosts[1], WEB2)], before, 'no replica was stopped');
    assert.equal(fs.readdirSync(path.dirname(path.dirname(manifestPath(hosts[0])))).length, listed, 'no backup was taken');
    assert.equal(await digest(hosts[0].docker, WEB1), digests[H1]);
  });

  it('refuses a restore whose copies no longer match the hosts (a copy missing), naming the service, the volume and the hosts, and touches nothing', async () => {
    const original = hosts.map((h) => fs.readFileSync(manifestPath(h), 'utf8'));
    // As if host-2's copy had not been taken: every copy of the manifest lists host-1's only.
    for (const [i, host] of hosts.entries()) {
      const m = JSON.parse(original[i]) as ManifestFile;
      fs.writeFileSync(manifestPath(host), JSON.stringify({ ...m, archives: m.archives.filter((a) => a.host !== H2 || a.key !== 'data') }, null, 2));
    }
    try {
      await execIn(hosts[0].docker, WEB1, ['sh', '-c', 'echo later > /data/later.txt']);
      const before = [await digest(hosts[0].docker, WEB1), await startedAt(hosts[0], WEB1), await startedAt(hosts[1], WEB2)];
      const run = await runCli(['restore', '-p', PROJECT, backupId], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`restore of ${PROJECT} refused before anything was touched: backup ${backupId} holds volume data of service web as copies on ${H1}, but it is now held on ${H1}, ${H2}`),
      );
      assert.deepEqual([await digest(hosts[0].docker, WEB1), await startedAt(hosts[0], WEB1), await startedAt(hosts[1], WEB2)], before);
    } finally {
      hosts.forEach((h, i) => fs.writeFileSync(manifestPath(h), original[i]));
    }
  });

  it('refuses a restore once the service no longer spreads (replicas 1), naming the hosts of the copies, and touches nothing', async () => {
    fs.writeFileSync(file, compose(1));
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual((await projectContainers(hosts[0].docker, PROJECT)).map(nameOf), [WEB1]);
    const before = [await digest(hosts[0].docker, WEB1), await startedAt(hosts[0], WEB1)];
    const run = await runCli(['restore', '-p', PROJECT, backupId], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`backup ${backupId} holds volume data of service web as copies on ${H1}, ${H2}, but it is now held on ${H1} `));
    assert.deepEqual([await digest(hosts[0].docker, WEB1), await startedAt(hosts[0], WEB1)], before);
  });

  it("rollback --with-data puts revision 1's replicas back on both hosts, each host's copy restored on it, after backing up every copy it replaces", async () => {
    await execIn(hosts[0].docker, WEB1, ['sh', '-c', 'echo revision-2 > /data/blob']);
    const replaced = await digest(hosts[0].docker, WEB1);
    const run = await runCli(['rollback', '-p', PROJECT, '--to', '1', '--with-data', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { restored: number; dataBackup: string; safetyBackup: string; dataSets: string[] };
    assert.deepEqual([result.restored, result.dataBackup, result.dataSets], [1, backupId, ['data', 'db-data']]);
    assert.deepEqual((await projectContainers(hosts[1].docker, PROJECT)).map(nameOf).sort(), [DB, WEB2]);
    assert.equal(await digest(hosts[0].docker, WEB1), digests[H1]);
    assert.equal(await digest(hosts[1].docker, WEB2), digests[H2]);
    // The data it replaced: every copy, each on its host (the host-2 copy outlived its replica).
    const safety = JSON.parse(fs.readFileSync(manifestPath(hosts[0], result.safetyBackup), 'utf8')) as ManifestFile & { reason: string };
    assert.deepEqual(
      [safety.reason, safety.archives.map((a) => [a.key, a.host, a.hostCopy ?? false])],
      ['rollback', [['data', H1, true], ['data', H2, true], ['db-data', H2, false]]],
    );
    assert.ok(fs.existsSync(path.join(path.dirname(manifestPath(hosts[0], result.safetyBackup)), `volume-data.on-${H1}.tar.gz`)));
    assert.notEqual(replaced, digests[H1]);
  });
});
