/**
 * A host known to be down (its worker stopped long enough for Temporal's
 * poller list to show it) no longer holds rollback, down or backup across
 * hosts until the silence bound (workflows/host-liveness.ts): each asks
 * Temporal first, then acts at once. Two simulated hosts; hdo-host-2's
 * worker is stopped, its dockerd keeps running (what it runs stays visible).
 *
 *   rollback (images): hdo-host-1 goes back, hdo-host-2 is named as not reached, its containers untouched;
 *   rollback --with-data: refused at once naming hdo-host-2, nothing touched;
 *   backup, restore and migrate of data on hdo-host-2: refused at once naming the host (and the volume or service), no archive written;
 *   down: hdo-host-1 cleared, the result names what hdo-host-2 still runs; a next down clears it once it is back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { Connection, WorkflowClient } from '@temporalio/client';
import { TEST_IMAGE, nameOf, projectContainers, projectDir, runCli, type TestBed } from '../support/harness';
import { type HostWorkers, type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';
import { lastPoll } from '../../src/client/host-registrations';
import { hostTaskQueue } from '../../src/model/hosts';
import { LONG_POLL_SECONDS } from '../../workflows/host-liveness';

const TASK_QUEUE = 'it-hosts-down-ops';
// Names of their own: other test files simulate host-1 … host-N at the same time.
const H1 = 'hdo-host-1';
const H2 = 'hdo-host-2';
/** web on H1, api on H2: rolled back and brought down with H2 down. */
const SPAN = 'hostsdownops-span-it';
/** web on H1, db with volume data on H2: its backup is refused with H2 down. */
const DATA = 'hostsdownops-data-it';
/** The old bound (the default --host-timeout, 60 s): every operation here must end well inside it. */
const WELL_INSIDE_MS = 40_000;

function span(version: string): string {
  const service = (host: string) => `
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == ${host}"]}`;
  return `
services:
  web:${service(H1)}
  api:${service(H2)}
`;
}

// web on H1 too: H1's ledger holds the stack's revision, so the backup knows where its volume is without H2.
const DATA_COMPOSE = `
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
    deploy:
      placement: {constraints: ["node.hostname == ${H2}"]}
volumes:
  data: {}
`;

/** container name → VERSION of a project's containers on one host's dockerd. */
async function versions(docker: Docker, project: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of await projectContainers(docker, project)) {
    const env = (await docker.getContainer(c.Id).inspect()).Config.Env ?? [];
    out[nameOf(c)] = env.find((e) => e.startsWith('VERSION='))?.slice('VERSION='.length) ?? '';
  }
  return out;
}

async function timed(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  const run = await runCli(args, env);
  return { ...run, ms: Date.now() - t0 };
}

/** The backups of DATA on each host's disk (each host keeps its archives and a manifest copy under its state dir). */
function backupDirs(hosts: SimulatedHost[]): string[][] {
  return hosts.map((h) => {
    const dir = path.join(h.stateDir, 'backups', DATA);
    return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  });
}

describe('rollback, down, backup, restore and migrate with a host known to be down', () => {
  let hostsBed: HostsBed;
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let client: WorkflowClient;
  let env: Record<string, string>;
  let spanFile: string;
  /** A backup of DATA taken with every host up: what the restore with hdo-host-2 down asks for. */
  let backupId = '';
  const started = Date.now();

  before(async () => {
    hostsBed = await startHostsBed(TASK_QUEUE, [{ name: H1 }, { name: H2 }], [SPAN, DATA]);
    ({ bed, hosts, workers, env } = hostsBed);
    client = new WorkflowClient({ connection: await Connection.connect({ address: bed.address }), namespace: 'default' });
    spanFile = path.join(projectDir(SPAN, { 'docker-compose.yml': span('1') }), 'docker-compose.yml');
    const dataFile = path.join(projectDir(DATA, { 'docker-compose.yml': DATA_COMPOSE }), 'docker-compose.yml');
    for (const [file, version] of [[spanFile, '1'], [spanFile, '2'], [dataFile, '']]) {
      if (version) fs.writeFileSync(file, span(version));
      const run = await runCli(['deploy', '-f', file, '--json'], env);
      assert.equal(run.code, 0, run.stderr);
    }
    assert.deepEqual(await versions(hosts[0].docker, SPAN), { [`${SPAN}-web-1`]: '2' });
    assert.deepEqual(await versions(hosts[1].docker, SPAN), { [`${SPAN}-api-1`]: '2' });
    const backup = await runCli(['backup', '-p', DATA, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    backupId = (JSON.parse(backup.stdout) as { backupId: string }).backupId;
  });

  after(async () => {
    await client?.connection.close();
    await hostsBed?.teardown();
    console.log(`hosts-down-ops.test.ts took ${Date.now() - started} ms`);
  });

  it(`with ${H2} down: backup, restore and migrate of its data and rollback --with-data are refused at once; rollback goes on for ${H1} and names ${H2}; down clears ${H1} and says what ${H2} still runs`, async () => {
    await workers.stop(H2);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const seen = await lastPoll(client, hostTaskQueue(TASK_QUEUE, H2));
      if (seen && (Date.now() - Date.parse(seen)) / 1000 > LONG_POLL_SECONDS + 2) break;
      assert.ok(Date.now() < deadline, `${H2}'s last poll stays recent: ${seen}`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    try {
      const backupsBefore = backupDirs(hosts);
      const isDown = `${H2}, which is down \\(its worker last polled \\d+ s ago; start "dockflow worker --host ${H2}"\\)`;
      const backup = await timed(['backup', '-p', DATA, '--json'], env);
      assert.equal(backup.code, 1, backup.stderr);
      assert.match(backup.stderr, new RegExp(`backup of ${DATA} refused before anything was touched: volume data is on host ${isDown}`));
      assert.ok(backup.ms < WELL_INSIDE_MS, `the refused backup took ${backup.ms} ms`);
      const restore = await timed(['restore', '-p', DATA, backupId], env);
      assert.equal(restore.code, 1, restore.stderr);
      assert.match(restore.stderr, new RegExp(`restore of ${DATA} refused before anything was touched: volume data is on host ${isDown}`));
      assert.ok(restore.ms < WELL_INSIDE_MS, `the refused restore took ${restore.ms} ms`);
      const migrate = await timed(['migrate', '-p', DATA, 'db', '--', 'sh', '-c', 'echo migrated > /data/migrated.txt'], env);
      assert.equal(migrate.code, 1, migrate.stderr);
      assert.match(migrate.stderr, new RegExp(`migrate of ${DATA} refused before anything was touched: service db runs on host ${isDown}`));
      assert.ok(migrate.ms < WELL_INSIDE_MS, `the refused migrate took ${migrate.ms} ms`);
      assert.deepEqual(backupDirs(hosts), backupsBefore, `no backup of ${DATA} written on any host`);
      assert.equal((await projectContainers(hosts[1].docker, DATA)).find((c) => c.State !== 'running'), undefined, 'db was not stopped');

      const withData = await timed(['rollback', '-p', SPAN, '--with-data'], env);
      assert.equal(withData.code, 1, withData.stderr);
      assert.match(withData.stderr, new RegExp(`rollback of ${SPAN} to revision 1 with data refused before anything was touched: ${H2} is down \\(its worker last polled \\d+ s ago\\)`));
      assert.ok(withData.ms < WELL_INSIDE_MS, `the refused rollback --with-data took ${withData.ms} ms`);
      assert.deepEqual(await versions(hosts[0].docker, SPAN), { [`${SPAN}-web-1`]: '2' }, `${H1} untouched by the refused rollback`);

      const rollback = await timed(['rollback', '-p', SPAN, '--json'], env);
      assert.equal(rollback.code, 0, rollback.stderr);
      const rolled = JSON.parse(rollback.stdout) as { restored: number; revision: number; unreachable?: string[] };
      assert.deepEqual([rolled.restored, rolled.revision, rolled.unreachable], [1, 3, [H2]]);
      assert.ok(rollback.ms < WELL_INSIDE_MS, `the rollback took ${rollback.ms} ms`);
      assert.deepEqual(await versions(hosts[0].docker, SPAN), { [`${SPAN}-web-1`]: '1' });
      assert.deepEqual(await versions(hosts[1].docker, SPAN), { [`${SPAN}-api-1`]: '2' }, `${H2} untouched`);

      const down = await timed(['down', '-p', SPAN, '--json'], env);
      assert.equal(down.code, 0, down.stderr);
      const cleared = JSON.parse(down.stdout) as { removed: string[]; unreachable?: string[]; warnings?: string[] };
      assert.ok(cleared.removed.includes(`container:${SPAN}-web-1`), JSON.stringify(cleared.removed));
      assert.deepEqual(cleared.unreachable, [H2]);
      assert.match(
        (cleared.warnings ?? []).join('\n'),
        new RegExp(`^host ${H2} is down \\(its worker last polled \\d+ s ago\\) and still runs service api of project ${SPAN} \\(revision 3\\); run dockflow down -p ${SPAN} again once its worker is back$`),
      );
      assert.ok(down.ms < WELL_INSIDE_MS, `the down took ${down.ms} ms`);
      assert.deepEqual(await projectContainers(hosts[0].docker, SPAN), [], `nothing of ${SPAN} on ${H1}`);
      assert.deepEqual(Object.keys(await versions(hosts[1].docker, SPAN)), [`${SPAN}-api-1`], `${H2} untouched`);
      console.log(
        `with ${H2} down: backup refused in ${backup.ms} ms, restore refused in ${restore.ms} ms, migrate refused in ${migrate.ms} ms, rollback --with-data refused in ${withData.ms} ms, ` +
          `rollback ${rollback.ms} ms, down ${down.ms} ms (the old bound: 60 000 ms each)`,
      );
    } finally {
      await workers.start(H2);
    }
  });

  it(`once ${H2} is back, down clears it and the backup runs`, async () => {
    const down = await runCli(['down', '-p', SPAN, '--json'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(JSON.parse(down.stdout).unreachable, undefined);
    for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, SPAN), [], `nothing of ${SPAN} on ${host.name}`);
    const backup = await runCli(['backup', '-p', DATA, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.deepEqual((JSON.parse(backup.stdout) as { archives: { key: string; host?: string }[] }).archives.map((a) => [a.key, a.host]), [['data', H2]]);
  });
});
