/**
 * `dockflow backup --dry-run` and `dockflow restore --dry-run` through the
 * real CLI, across three simulated hosts and on a single host: the plan per
 * host (data sets, containers stopped and started again, destination,
 * backup ID), and nothing changed: no archive or backup folder written, no
 * container stopped, restarted or created, no volume created or touched.
 *
 * On the same three hosts: a scheduled backup (a Temporal Schedule) backs
 * up the volume on the host that runs its service, looking the hosts up at
 * each run; and a rollback whose hosts did not answer (their workers
 * stopped) is refused, naming them, and no host's containers or ledger
 * change.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, execIn, projectDir, removeProject, runCli, startTestBed, startWorker, type TestBed } from '../support/harness';
import { Label } from '../../src/model/labels';
import { backupScheduleHandle } from '../../src/backup/client';
import type { BackupManifest } from '../../src/backup/manifest';
import { type HostWorkers, type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';

// Names of their own: other test files simulate hosts and deploy projects on the same engine.
const PROJECT = 'h5h-data';
const SINGLE = 'h5h-single';
const H1 = 'h5h-1';
const H2 = 'h5h-2';
const H3 = 'h5h-3';
const BACKUP_ID = /^\d{8}-\d{6}-[0-9a-f]{8}$/;

/** web on `webHost` (no data); db where the disk is ssd (h5h-2), with volume data, stopped while it is archived. Without a host, no constraints. */
function compose(webHost?: string): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
${webHost ? `    deploy:\n      placement: {constraints: ["node.hostname == ${webHost}"]}\n` : ''}  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
${webHost ? '    deploy:\n      placement: {constraints: ["node.labels.disk == ssd"]}\n' : ''}volumes:
  data: {}
`;
}

/** Every file under /data in the db container with its sha256, sorted. */
function dataDigest(docker: Docker, project: string): Promise<string> {
  return execIn(docker, `${project}-db-1`, ['sh', '-c', 'cd /data && find . -type f | sort | xargs sha256sum']);
}

/**
 * What a dry run must leave as it was on an engine: every container (ID,
 * state, when it last started: a stop and start changes it) and every volume.
 */
async function engineState(docker: Docker): Promise<string> {
  const containers = await docker.listContainers({ all: true });
  const lines = await Promise.all(
    containers.map(async (c) => {
      const info = await docker.getContainer(c.Id).inspect();
      return `${info.Name} ${c.Id} ${info.State.Status} ${info.State.StartedAt}`;
    }),
  );
  const volumes = ((await docker.listVolumes()).Volumes ?? []).map((v) => `volume ${v.Name}`);
  return [...lines, ...volumes].sort().join('\n');
}

/** Every file under a host's ledger of the project: a refused rollback records no revision anywhere. */
function ledgerFiles(stateDir: string, project: string): string[] {
  const dir = path.join(stateDir, 'projects', project);
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).sort() : [];
}

interface DryRunJson {
  dryRun: boolean;
  operation: string;
  project: string;
  backupId: string;
  revision?: number;
  hosts: { host?: string; destination: string; dataSets: string[]; stop: string[]; hooks: string[]; prune: string[] }[];
  untouched?: string[];
}

describe('backup and restore --dry-run across three hosts, and a rollback refused when its hosts are silent', () => {
  let hostsBed: HostsBed;
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let env: Record<string, string>;
  let file: string;
  let backupId = '';
  const started = Date.now();
  const engines = () => Promise.all(hosts.map((h) => engineState(h.docker)));
  const backupDirs = () => hosts.map((h) => path.join(h.stateDir, 'backups', PROJECT)).filter((d) => fs.existsSync(d));

  before(async () => {
    hostsBed = await startHostsBed('it-h5h-dry-run', [{ name: H1 }, { name: H2, labels: { disk: 'ssd' } }, { name: H3 }], [PROJECT]);
    ({ bed, hosts, workers, env } = hostsBed);
    file = path.join(projectDir(PROJECT, { 'docker-compose.yml': compose(H3) }), 'docker-compose.yml');
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual(JSON.parse(deployed.stdout).hosts, { db: H2, web: H3 });
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'head -c 65536 /dev/urandom > /data/blob && echo one > /data/a.txt']);
  });

  after(async () => {
    if (bed) await backupScheduleHandle(bed.env.client, PROJECT).delete().catch(() => undefined);
    await hostsBed?.teardown();
    console.log(`hosts-dry-run.test.ts (3 hosts) took ${Date.now() - started} ms`);
  });

  it('backup --dry-run names the host of each volume, the containers stopped there and the destination, and writes nothing', async () => {
    const before = await engines();
    const digest = await dataDigest(hosts[1].docker, PROJECT);
    const run = await runCli(['backup', '-p', PROJECT, '--dry-run', '--keep-last', '1', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as DryRunJson;
    assert.equal(plan.dryRun, true);
    assert.equal(plan.operation, 'backup');
    assert.match(plan.backupId, BACKUP_ID);
    assert.equal(plan.revision, 1);
    assert.deepEqual(plan.hosts, [
      { host: H2, destination: `local directory ${path.join(hosts[1].stateDir, 'backups')}`, dataSets: ['volume data'], stop: [`${PROJECT}-db-1`], hooks: [], prune: [] },
    ]);
    assert.deepEqual(plan.untouched, [H1, H3]);

    const text = await runCli(['backup', '-p', PROJECT, '--dry-run'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${PROJECT}: backup plan \\(dry run, nothing was changed\\); backup ID \\d{8}-\\d{6}-[0-9a-f]{8} if it started now`));
    assert.match(text.stdout, new RegExp(`\\n  on ${H2}, local directory [^\\n]+:\\n    archived: volume data\\n    stopped, then started again: ${PROJECT}-db-1\\n  untouched: ${H1}, ${H3}`));

    assert.deepEqual(backupDirs(), [], 'no backup folder on any host');
    assert.deepEqual(await engines(), before, 'no container stopped, started or created, no volume created, on any host');
    assert.equal(await dataDigest(hosts[1].docker, PROJECT), digest);
  });

  it('update --dry-run across hosts: the graph on the service\'s host, and nothing changed on any host', async () => {
    const before = await engines();
    const ledgers = hosts.map((h) => ledgerFiles(h.stateDir, PROJECT));
    const run = await runCli(['update', '-p', PROJECT, 'web', '--scale', '2', '--dry-run', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { dryRun: boolean; revision: number; operations: number; graph: string; hosts: Record<string, string> };
    assert.equal(plan.dryRun, true);
    assert.equal(plan.revision, 1, 'the revision it would start from');
    assert.equal(plan.operations, 1);
    assert.deepEqual(plan.hosts, { db: H2, web: H3 });
    // One section per host that runs a service; the new replica is on web's host.
    const sections = plan.graph.split(/\n(?=on )/);
    const web = sections.find((s) => s.startsWith(`on ${H3}:`));
    assert.ok(web, plan.graph);
    assert.match(web, new RegExp(`\n  create container:${PROJECT}-web-2 \\(`));
    assert.ok(sections.some((s) => s.startsWith(`on ${H2}:`) && !s.includes('create container')), plan.graph);

    const text = await runCli(['update', '-p', PROJECT, 'web', '--scale', '2', '--dry-run'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${PROJECT}: update of web from revision 1 \\(dry run, nothing changed\\)\non ${H2}:`));
    assert.deepEqual(await engines(), before, 'no container created, stopped or started, no volume created, on any host');
    assert.deepEqual(hosts.map((h) => ledgerFiles(h.stateDir, PROJECT)), ledgers, 'no revision recorded on any host');
  });

  it('restore --dry-run names the backup, the host each volume goes back to and the containers stopped there, and restores nothing', async () => {
    const backup = await runCli(['backup', '-p', PROJECT, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    backupId = (JSON.parse(backup.stdout) as { backupId: string }).backupId;
    // The data changes after the backup: a restore would put the old bytes back, a dry run must not.
    await execIn(hosts[1].docker, `${PROJECT}-db-1`, ['sh', '-c', 'echo changed > /data/a.txt && echo new > /data/new.txt']);
    const digest = await dataDigest(hosts[1].docker, PROJECT);
    const before = await engines();
    const listing = fs.readdirSync(path.join(hosts[1].stateDir, 'backups', PROJECT, backupId)).sort();

    // Retention in a backup's plan: the backup just taken would go, and stays.
    const pruning = await runCli(['backup', '-p', PROJECT, '--dry-run', '--keep-last', '1', '--json'], env);
    assert.equal(pruning.code, 0, pruning.stderr);
    assert.deepEqual((JSON.parse(pruning.stdout) as DryRunJson).hosts.map((h) => [h.host, h.prune]), [[H2, [backupId]]]);

    const run = await runCli(['restore', '-p', PROJECT, backupId, '--dry-run', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as DryRunJson;
    assert.deepEqual([plan.dryRun, plan.operation, plan.backupId], [true, 'restore', backupId]);
    assert.deepEqual(plan.hosts.map((h) => [h.host, h.dataSets, h.stop]), [[H2, ['volume data'], [`${PROJECT}-db-1`]]]);
    assert.deepEqual(plan.untouched, [H1, H3]);
    const text = await runCli(['restore', '-p', PROJECT, backupId, '--dry-run'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${PROJECT}: plan to restore backup ${backupId} \\(dry run, nothing was changed\\)\\n  on ${H2}, local directory [^\\n]+:\\n    restored: volume data\\n    stopped, then started again: ${PROJECT}-db-1`));

    assert.equal(await dataDigest(hosts[1].docker, PROJECT), digest, 'the volume holds the changed data, not the backup\'s');
    assert.deepEqual(await engines(), before, 'no container stopped, started or created (no helper), on any host');
    assert.deepEqual(fs.readdirSync(path.join(hosts[1].stateDir, 'backups', PROJECT, backupId)).sort(), listing);
  });

  it('restore --dry-run is refused like the restore when the volume\'s host is silent', async () => {
    await workers.stop(H2);
    try {
      const run = await runCli(['restore', '-p', PROJECT, backupId, '--dry-run', '--host-timeout', '3'], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`restore of ${PROJECT} refused before anything was touched: volume data is on host ${H2}, whose worker took no step within 3 s`));
    } finally {
      await workers.start(H2);
    }
  });

  it('a scheduled backup archives the volume on the host that runs its service, at every run', async () => {
    const created = await runCli(['schedule', 'backup', '-p', PROJECT, '--every', '3s', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const handle = backupScheduleHandle(bed.env.client, PROJECT);
    const deadline = Date.now() + 90_000;
    let runs: { action: { workflow: { workflowId: string } } }[] = [];
    for (;;) {
      const d = await handle.describe();
      if (d.info.recentActions.length >= 2 && d.info.runningActions.length === 0) {
        runs = d.info.recentActions;
        break;
      }
      assert.ok(Date.now() < deadline, `two scheduled backups did not finish in time: ${JSON.stringify(d.info.recentActions)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await handle.pause('test done');
    // A run may have started between the last look and the pause: let it finish before the next test takes the lock.
    while ((await handle.describe()).info.runningActions.length > 0) await new Promise((r) => setTimeout(r, 250));

    const results = (await Promise.all(runs.map((r) => bed.env.client.workflow.getHandle(r.action.workflow.workflowId).result()))) as {
      backupId: string;
      archives: { key: string; host?: string }[];
      stopped: string[];
    }[];
    for (const result of results) {
      assert.deepEqual(result.archives.map((a) => [a.key, a.host]), [['data', H2]], 'the volume is archived on h5h-2, where db runs');
      assert.deepEqual(result.stopped, [`${PROJECT}-db-1`]);
      const dir = path.join(hosts[1].stateDir, 'backups', PROJECT, result.backupId);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
      assert.equal(manifest.reason, 'scheduled');
      assert.ok(fs.existsSync(path.join(dir, manifest.archives[0].archive)), 'the archive is on h5h-2');
      // h5h-1 and h5h-3 keep a copy of the manifest, without the archive (no empty volume archived there).
      for (const other of [hosts[0], hosts[2]]) {
        const copy = path.join(other.stateDir, 'backups', PROJECT, result.backupId);
        assert.deepEqual(fs.readdirSync(copy).filter((f) => f !== 'manifest.json' && f !== 'SHA256SUMS'), [], other.name);
        assert.ok(fs.existsSync(path.join(copy, 'manifest.json')), other.name);
      }
    }
    for (const host of [hosts[0], hosts[2]]) assert.deepEqual((await host.docker.listVolumes()).Volumes ?? [], [], `no volume created on ${host.name}`);
  });

  it('a rollback whose hosts do not answer is refused, naming them, and no host changes', async () => {
    // Revision 2 moves web to h5h-1: revision 1 (the rollback's target) ran on h5h-2 and h5h-3.
    // h5h-1's worker is also the one that polls the shared queue (test/support/hosts.ts): it runs the workflows.
    fs.writeFileSync(file, compose(H1));
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual([JSON.parse(deployed.stdout).revision, JSON.parse(deployed.stdout).hosts], [2, { db: H2, web: H1 }]);
    const ledgers = () => hosts.map((h) => ledgerFiles(h.stateDir, PROJECT));
    const beforeEngines = await engines();
    const beforeLedgers = ledgers();
    assert.ok(beforeLedgers[0].some((f) => /000002\.json$/.test(f)) && !beforeLedgers[0].some((f) => /000001\.json$/.test(f)), `h5h-1 holds revision 2 only: ${beforeLedgers[0].join(', ')}`);

    let orchestrator: (() => Promise<void>) | undefined;
    await workers.stop(H2);
    await workers.stop(H3);
    try {
      // h5h-1 answers, but holds only revision 2: the revision to go back to is in the silent hosts' ledgers.
      const some = await runCli(['rollback', '-p', PROJECT, '--host-timeout', '3'], env);
      assert.equal(some.code, 1, some.stderr);
      assert.match(
        some.stderr,
        new RegExp(`rollback of ${PROJECT} refused before anything was touched: the ledgers of the hosts that answered \\(${H1}\\) hold no revision before 2, and the hosts that may hold it are silent: ${H2}, ${H3} did not answer within 3 s`),
      );
      assert.doesNotMatch(some.stderr, /nothing earlier to roll back to/);

      // Every host silent, the workflows run by a worker of no host (as on a machine that only orchestrates).
      await workers.stop(H1);
      orchestrator = await startWorker(bed);
      const none = await runCli(['rollback', '-p', PROJECT, '--to', '1', '--host-timeout', '3'], env);
      assert.equal(none.code, 1, none.stderr);
      assert.match(none.stderr, new RegExp(`rollback of ${PROJECT} refused before anything was touched: none of its hosts answered: ${H1}, ${H2}, ${H3} did not answer within 3 s`));
    } finally {
      await orchestrator?.();
      for (const h of [H1, H2, H3]) await workers.start(h);
    }
    assert.deepEqual(await engines(), beforeEngines, 'no container changed on any host');
    assert.deepEqual(ledgers(), beforeLedgers, 'no revision recorded on any host');

    // With the workers back, the same rollback goes through: the refusal was about the silent hosts.
    const rolled = await runCli(['rollback', '-p', PROJECT, '--json'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.deepEqual((JSON.parse(rolled.stdout) as { restored: number }).restored, 1);
  });
});

describe('backup and restore --dry-run on a single host', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  let env: Record<string, string>;

  before(async () => {
    bed = await startTestBed('it-h5h-dry-run-single');
    await removeProject(bed.docker, SINGLE);
    stopWorker = await startWorker(bed);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: bed.taskQueue };
    const file = path.join(projectDir(SINGLE, { 'docker-compose.yml': compose() }), 'docker-compose.yml');
    const deployed = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(deployed.code, 0, deployed.stderr);
    await execIn(bed.docker, `${SINGLE}-db-1`, ['sh', '-c', 'echo one > /data/a.txt']);
  });

  after(async () => {
    await stopWorker?.();
    await removeProject(bed.docker, SINGLE).catch(() => undefined);
    await bed?.teardown();
  });

  /** The project's containers (ID, state, last start) and volumes on the main engine, which other tests share. */
  async function projectState(): Promise<string> {
    const containers = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.project}=${SINGLE}`] } });
    const lines = await Promise.all(
      containers.map(async (c) => {
        const info = await bed.docker.getContainer(c.Id).inspect();
        return `${info.Name} ${c.Id} ${info.State.Status} ${info.State.StartedAt}`;
      }),
    );
    const volumes = ((await bed.docker.listVolumes()).Volumes ?? []).filter((v) => v.Name.startsWith(`${SINGLE}_`)).map((v) => `volume ${v.Name}`);
    assert.ok(lines.length >= 2 && volumes.length === 1, `the project runs: ${lines.join('; ')} ${volumes.join('; ')}`);
    return [...lines, ...volumes].sort().join('\n');
  }

  it('plans a backup and a restore on the worker\'s host, without a host name, and changes nothing', async () => {
    const destination = `local directory ${path.join(bed.stateDir, 'backups')}`;
    let before = await projectState();
    const plan = await runCli(['backup', '-p', SINGLE, '--dry-run', '--json'], env);
    assert.equal(plan.code, 0, plan.stderr);
    const backupPlan = JSON.parse(plan.stdout) as DryRunJson;
    assert.match(backupPlan.backupId, BACKUP_ID);
    assert.deepEqual(backupPlan.hosts, [{ destination, dataSets: ['volume data'], stop: [`${SINGLE}-db-1`], hooks: [], prune: [] }]);
    assert.equal(backupPlan.untouched, undefined);
    assert.equal(fs.existsSync(path.join(bed.stateDir, 'backups', SINGLE)), false, 'no backup folder');
    assert.equal(await projectState(), before);

    const backup = await runCli(['backup', '-p', SINGLE, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    const backupId = (JSON.parse(backup.stdout) as { backupId: string }).backupId;
    await execIn(bed.docker, `${SINGLE}-db-1`, ['sh', '-c', 'echo changed > /data/a.txt']);
    const digest = await dataDigest(bed.docker, SINGLE);
    before = await projectState();
    const restorePlan = await runCli(['restore', '-p', SINGLE, backupId, '--dry-run'], env);
    assert.equal(restorePlan.code, 0, restorePlan.stderr);
    assert.equal(
      restorePlan.stdout,
      `${SINGLE}: plan to restore backup ${backupId} (dry run, nothing was changed)\n  ${destination}:\n    restored: volume data\n    stopped, then started again: ${SINGLE}-db-1\n`,
    );
    assert.equal(await dataDigest(bed.docker, SINGLE), digest, 'the volume was not restored');
    assert.equal(await projectState(), before, 'nothing stopped, started or created');
  });
});
