/**
 * `dockflow rollback --with-data` across two simulated hosts, through the
 * real CLI: web on one host, db with its volume on the other. Revision 1's
 * data is backed up, changed, and revision 2 deployed; the rollback puts
 * revision 1's containers back on both hosts and revision 1's data back on
 * db's host, after backing up the data it replaces (a second rollback with
 * data goes forward again from that copy). With db's host silent, it is
 * refused before anything is touched, naming the host. A revision that
 * fails on its restored data leaves both hosts as they were: data and
 * containers put back, no revision recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, execIn, projectDir, runCli } from '../support/harness';
import type { BackupManifest } from '../../src/backup/manifest';
import { type HostWorkers, type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';

// Names of their own: other test files simulate hosts and deploy projects on the same engine.
const PROJECT = 'h6rd-shop';
const H1 = 'h6rd-1';
const H2 = 'h6rd-2';

/** web on h6rd-1, db with volume data on h6rd-2 (stopped while it is archived); RELEASE tells revisions apart. */
function compose(release: number, poisonCheck = false): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {RELEASE: "${release}"}
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == ${H1}"]}
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    environment: {RELEASE: "${release}"}
    stop_grace_period: 1s
    volumes: ["data:/data"]
${poisonCheck ? '    healthcheck: {test: ["CMD", "sh", "-c", "test ! -e /data/poison"], interval: 1s, retries: 2}\n' : ''}    x-dockflow:
      backup: {stop: true}
    deploy:
      placement: {constraints: ["node.hostname == ${H2}"]}
volumes:
  data: {}
`;
}

const digest = (docker: Docker) => execIn(docker, `${PROJECT}-db-1`, ['sh', '-c', 'cd /data && find . -type f | sort | xargs sha256sum']);
const release = async (docker: Docker, service: string) => ((await docker.getContainer(`${PROJECT}-${service}-1`).inspect()).Config.Env ?? []).find((e) => e.startsWith('RELEASE='));

describe('rollback --with-data across two hosts', () => {
  let hostsBed: HostsBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let env: Record<string, string>;
  let file: string;
  let backupId = '';
  let dataOfRevision1 = '';
  let dataOfRevision2 = '';
  const started = Date.now();

  before(async () => {
    hostsBed = await startHostsBed('it-h6rd', [{ name: H1 }, { name: H2 }], [PROJECT]);
    ({ hosts, workers, env } = hostsBed);
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose(1) }), 'docker-compose.yml');
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual(JSON.parse(deployed.stdout).hosts, { db: H2, web: H1 });
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'head -c 65536 /dev/urandom > /data/blob && echo one > /data/a.txt']);
    dataOfRevision1 = await digest(hosts[1].docker);
    const backup = await runCli(['backup', '-p', PROJECT, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    backupId = JSON.parse(backup.stdout).backupId;
    // Revision 2: new containers on both hosts, and new data.
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'echo two > /data/a.txt && rm /data/blob && echo new > /data/b.txt']);
    dataOfRevision2 = await digest(hosts[1].docker);
    fs.writeFileSync(file, compose(2));
    const second = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).revision, 2);
    assert.notEqual(dataOfRevision1, dataOfRevision2);
  });

  after(async () => {
    await hostsBed?.teardown();
    console.log(`hosts-rollback-data.test.ts (2 hosts) took ${Date.now() - started} ms`);
  });

  it('with the data host silent, it is refused naming the host, and nothing changes', async () => {
    const before = [await digest(hosts[1].docker), await release(hosts[0].docker, 'web'), await release(hosts[1].docker, 'db')];
    await workers.stop(H2);
    try {
      const run = await runCli(['rollback', '-p', PROJECT, '--with-data', '--host-timeout', '3'], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`with data refused before anything was touched: ${H2} did not answer within 3 s`));
    } finally {
      await workers.start(H2);
    }
    assert.deepEqual([await digest(hosts[1].docker), await release(hosts[0].docker, 'web'), await release(hosts[1].docker, 'db')], before);
  });

  it('puts revision 1 back on both hosts with its data, after backing up the data it replaces; and forward again', async () => {
    const run = await runCli(['rollback', '-p', PROJECT, '--with-data', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { restored: number; revision: number; dataBackup: string; safetyBackup: string; dataSets: string[] };
    assert.deepEqual([result.restored, result.revision, result.dataBackup, result.dataSets], [1, 3, backupId, ['data']]);
    assert.equal(await digest(hosts[1].docker), dataOfRevision1, 'revision 1 data on h6rd-2');
    assert.equal(await release(hosts[0].docker, 'web'), 'RELEASE=1');
    assert.equal(await release(hosts[1].docker, 'db'), 'RELEASE=1');
    // The data it replaced, archived on db's host, linked to revision 2; every host keeps the manifest.
    const safetyDir = path.join(hosts[1].stateDir, 'backups', PROJECT, result.safetyBackup);
    const safety = JSON.parse(fs.readFileSync(path.join(safetyDir, 'manifest.json'), 'utf8')) as BackupManifest;
    assert.deepEqual([safety.reason, safety.revision, safety.archives.map((a) => a.host)], ['rollback', 2, [H2]]);
    assert.ok(fs.existsSync(path.join(hosts[0].stateDir, 'backups', PROJECT, result.safetyBackup, 'manifest.json')), 'h6rd-1 keeps a copy of the manifest');
    // Revision 3 is in both hosts' ledgers.
    for (const host of hosts) {
      const ledger = fs.readdirSync(path.join(host.stateDir, 'projects', PROJECT), { recursive: true }).map(String);
      assert.ok(ledger.some((f) => /000003\.json$/.test(f)), `${host.name}: ${ledger.join(', ')}`);
    }

    // Forward again: revision 2's containers and the data the first rollback backed up.
    const forward = await runCli(['rollback', '-p', PROJECT, '--to', '2', '--with-data', '--json'], env);
    assert.equal(forward.code, 0, forward.stderr);
    assert.equal(JSON.parse(forward.stdout).dataBackup, result.safetyBackup);
    assert.equal(await digest(hosts[1].docker), dataOfRevision2);
    assert.equal(await release(hosts[0].docker, 'web'), 'RELEASE=2');
    assert.equal(await release(hosts[1].docker, 'db'), 'RELEASE=2');
  });

  it('puts the data and the containers back on every host when the revision fails on its restored data', async () => {
    // Revision 5's db is healthy only without /data/poison; its backup holds the poison. Revision 6 has no such check.
    const deploy = async (text: string, revision: number) => {
      fs.writeFileSync(file, text);
      const run = await runCli(['deploy', '-f', file, '--json'], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).revision, revision);
    };
    await deploy(compose(3, true), 5);
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'touch /data/poison']);
    const poisoned = await runCli(['backup', '-p', PROJECT, '--json'], env);
    assert.equal(poisoned.code, 0, poisoned.stderr);
    await deploy(compose(4), 6);
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'rm /data/poison && echo under-revision-6 > /data/r6']);
    const dataBefore = await digest(hosts[1].docker);
    const ledgers = () => hosts.map((h) => fs.readdirSync(path.join(h.stateDir, 'projects', PROJECT), { recursive: true }).map(String).sort());
    const ledgersBefore = ledgers();

    const run = await runCli(['rollback', '-p', PROJECT, '--to', '5', '--with-data', '--health-timeout', '30'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /rollback of h6rd-shop to revision 5 with data failed: .*; the data \(from backup \d{8}-\d{6}-[0-9a-f]{8}\) and revision 6's containers were put back on every host/s);
    assert.equal(await digest(hosts[1].docker), dataBefore, "revision 6's data, byte for byte");
    assert.equal(await release(hosts[0].docker, 'web'), 'RELEASE=4');
    assert.equal(await release(hosts[1].docker, 'db'), 'RELEASE=4');
    assert.equal((await hosts[1].docker.getContainer(`${PROJECT}-db-1`).inspect()).State.Running, true);
    assert.deepEqual(ledgers(), ledgersBefore, 'no revision recorded on any host');
  });
});
