/**
 * Data operations across two simulated Docker hosts: a volume lives on the
 * host that runs its service; backup, restore and migrate act on it there,
 * as one workflow per project, through the real CLI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, execIn, nameOf, projectContainers, projectDir, runCli } from '../support/harness';
import { type HostWorkers, type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';

const TASK_QUEUE = 'it-hosts-data';
const PROJECT = 'hosts-data-it';
// Names of their own: other test files simulate host-1 … host-N at the same time.
const H1 = 'hd-host-1';
const H2 = 'hd-host-2';
const DB = `${PROJECT}-db-1`;

/** web on hd-host-1 (no data); db on hd-host-2 with volume data, stopped while it is archived. */
const COMPOSE = `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == ${H1}"]}
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
    deploy:
      placement: {constraints: ["node.labels.disk == ssd"]}
volumes:
  data: {}
`;

/** Every file under /data in the db container with its sha256, sorted: what "byte for byte" compares. */
async function dataDigest(docker: Docker): Promise<string> {
  return execIn(docker, DB, ['sh', '-c', 'cd /data && find . -type f | sort | xargs sha256sum']);
}

describe('backup, restore and migrate across two hosts', () => {
  let hostsBed: HostsBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let env: Record<string, string>;
  let backupId = '';
  let digest = '';
  const started = Date.now();

  before(async () => {
    hostsBed = await startHostsBed(TASK_QUEUE, [{ name: H1 }, { name: H2, labels: { disk: 'ssd' } }], [PROJECT]);
    ({ hosts, workers, env } = hostsBed);
    const file = path.join(projectDir(PROJECT, { 'docker-compose.yml': COMPOSE }), 'docker-compose.yml');
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual(JSON.parse(deployed.stdout).hosts, { db: H2, web: H1 });
    // 300 KiB of random bytes, a small text file and a nested one.
    await execIn(hosts[1].docker, DB, ['sh', '-c', 'mkdir -p /data/sub && head -c 307200 /dev/urandom > /data/blob && echo one > /data/a.txt && echo two > /data/sub/b.txt']);
    digest = await dataDigest(hosts[1].docker);
    assert.match(digest, /\.\/blob/);
  });

  after(async () => {
    await hostsBed?.teardown();
    console.log(`hosts-data.test.ts took ${Date.now() - started} ms`);
  });

  it('backs up a volume on the host that runs its service, stopping the service there, and the manifest names the host', async () => {
    const run = await runCli(['backup', '-p', PROJECT, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { backupId: string; archives: { key: string; host?: string }[]; stopped: string[] };
    backupId = result.backupId;
    assert.deepEqual(result.archives.map((a) => [a.key, a.host]), [['data', H2]]);
    assert.deepEqual(result.stopped, [DB]);
    // The archive is on hd-host-2's disk, with the manifest; hd-host-1 keeps a copy of the manifest only.
    const dir = path.join(hosts[1].stateDir, 'backups', PROJECT, backupId);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { archives: { key: string; host?: string; archive: string }[] };
    assert.deepEqual(manifest.archives.map((a) => [a.key, a.host]), [['data', H2]]);
    assert.ok(fs.existsSync(path.join(dir, manifest.archives[0].archive)));
    const copy = path.join(hosts[0].stateDir, 'backups', PROJECT, backupId);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8')), manifest);
    assert.equal(fs.existsSync(path.join(copy, manifest.archives[0].archive)), false);
    // db runs again on hd-host-2 after the backup.
    const db = (await projectContainers(hosts[1].docker, PROJECT)).find((c) => nameOf(c) === DB);
    assert.equal(db?.State, 'running');
  });

  it('restores the volume on its host byte for byte', async () => {
    await execIn(hosts[1].docker, DB, ['sh', '-c', 'rm -rf /data/sub && echo changed > /data/a.txt && echo extra > /data/new.txt']);
    assert.notEqual(await dataDigest(hosts[1].docker), digest);
    const run = await runCli(['restore', '-p', PROJECT, backupId, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).restored, ['data']);
    assert.equal(await dataDigest(hosts[1].docker), digest);
  });

  it('runs a migration on the host where its service is placed', async () => {
    const run = await runCli(['migrate', '-p', PROJECT, 'db', '--json', '--', 'sh', '-c', 'echo migrated > /data/migrated.txt'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { backupId?: string };
    assert.ok(result.backupId, 'a backup was taken first');
    // The volume exists only on hd-host-2: the file is there, so the one-off container ran there.
    assert.equal((await execIn(hosts[1].docker, DB, ['cat', '/data/migrated.txt'])).trim(), 'migrated');
    assert.deepEqual(await projectContainers(hosts[0].docker, PROJECT).then((l) => l.map(nameOf)), [`${PROJECT}-web-1`]);
    const backup = JSON.parse(fs.readFileSync(path.join(hosts[1].stateDir, 'backups', PROJECT, result.backupId, 'manifest.json'), 'utf8')) as { archives: { host?: string }[] };
    assert.deepEqual(backup.archives.map((a) => a.host), [H2]);
  });

  it('refuses a restore whose volume is on a silent host, naming both, and changes nothing', async () => {
    const before = await dataDigest(hosts[1].docker);
    const startedAt = (await hosts[1].docker.getContainer(DB).inspect()).State.StartedAt;
    await workers.stop(H2);
    try {
      const run = await runCli(['restore', '-p', PROJECT, backupId, '--host-timeout', '3'], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`restore of ${PROJECT} refused before anything was touched: volume data is on host ${H2}, whose worker took no step within 3 s`));
    } finally {
      await workers.start(H2);
    }
    assert.equal(await dataDigest(hosts[1].docker), before, 'the data is as it was (migrated.txt still there)');
    assert.equal((await hosts[1].docker.getContainer(DB).inspect()).State.StartedAt, startedAt, 'db was not stopped');
  });

  it('refuses a restore whose volume was taken on a host that is not registered, naming both, and changes nothing', async () => {
    // As if the backup came from a host since removed: every copy of its manifest names hd-host-9.
    for (const host of hosts) {
      const file = path.join(host.stateDir, 'backups', PROJECT, backupId, 'manifest.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll(`"host": "${H2}"`, '"host": "hd-host-9"'));
    }
    const before = await dataDigest(hosts[1].docker);
    const startedAt = (await hosts[1].docker.getContainer(DB).inspect()).State.StartedAt;
    const run = await runCli(['restore', '-p', PROJECT, backupId], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`restore of ${PROJECT} refused before anything was touched: volume data of backup ${backupId} was taken on host hd-host-9, which is not registered \\(hosts: ${H1}, ${H2}\\)`));
    assert.equal(await dataDigest(hosts[1].docker), before);
    assert.equal((await hosts[1].docker.getContainer(DB).inspect()).State.StartedAt, startedAt, 'db was not stopped');
  });
});
