/**
 * A registered host that is down (its worker stopped long enough for
 * Temporal's poller list to show it) no longer holds every deploy until the
 * silence bound (workflows/host-liveness.ts): a stack that does not use it
 * deploys without waiting for it, one placed on it fails at once naming it,
 * with nothing touched. Two simulated hosts; host-2's worker is stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection, WorkflowClient } from '@temporalio/client';
import { TEST_IMAGE, projectContainers, projectDir, runCli, type TestBed } from '../support/harness';
import { type HostWorkers, type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';
import { lastPoll } from '../../src/client/host-registrations';
import { hostTaskQueue } from '../../src/model/hosts';
import { LONG_POLL_SECONDS } from '../../workflows/host-liveness';

const TASK_QUEUE = 'it-hosts-down';
/** Runs on host-1 only. */
const ON_ONE = 'hostsdown-one-it';
/** Placed on host-2. */
const ON_TWO = 'hostsdown-two-it';

function compose(host: string, version: string): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    environment: {VERSION: "${version}"}
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == ${host}"]}
`;
}

describe('a host known to be down before the deploy', () => {
  let hostsBed: HostsBed;
  let bed: TestBed;
  let hosts: SimulatedHost[];
  let workers: HostWorkers;
  let client: WorkflowClient;
  let env: Record<string, string>;
  let fileOne: string;
  let fileTwo: string;
  const started = Date.now();

  before(async () => {
    hostsBed = await startHostsBed(TASK_QUEUE, [{ name: 'host-1' }, { name: 'host-2' }], [ON_ONE, ON_TWO]);
    ({ bed, hosts, workers, env } = hostsBed);
    client = new WorkflowClient({ connection: await Connection.connect({ address: bed.address }), namespace: 'default' });
    fileOne = path.join(projectDir(ON_ONE, { 'docker-compose.yml': compose('host-1', '1') }), 'docker-compose.yml');
    fileTwo = path.join(projectDir(ON_TWO, { 'docker-compose.yml': compose('host-2', '1') }), 'docker-compose.yml');
  });

  after(async () => {
    await client?.connection.close();
    await hostsBed?.teardown();
    console.log(`hosts-down.test.ts took ${Date.now() - started} ms`);
  });

  it('deploys with every host up', async () => {
    const run = await runCli(['deploy', '-f', fileOne, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { hosts: Record<string, string> }).hosts, { web: 'host-1' });
  });

  it('with host-2 down: a stack on host-1 deploys without waiting for the bound; one placed on host-2 fails at once naming it', async () => {
    await workers.stop('host-2');
    // Temporal shows it down once its worker's newest poll is older than a long poll (and the bound, 60 s by default).
    const deadline = Date.now() + 180_000;
    for (;;) {
      const seen = await lastPoll(client, hostTaskQueue(TASK_QUEUE, 'host-2'));
      if (seen && (Date.now() - Date.parse(seen)) / 1000 > LONG_POLL_SECONDS + 2) break;
      assert.ok(Date.now() < deadline, `host-2's last poll stays recent: ${seen}`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    try {
      fs.writeFileSync(fileOne, compose('host-1', '2'));
      let t0 = Date.now();
      const one = await runCli(['deploy', '-f', fileOne, '--json'], env);
      const oneMs = Date.now() - t0;
      assert.equal(one.code, 0, one.stderr);
      const result = JSON.parse(one.stdout) as { revision: number; warnings: string[] };
      assert.equal(result.revision, 2);
      assert.ok(result.warnings.some((w) => /^host host-2 is down \(last polled \d+ s ago\): left out/.test(w)), JSON.stringify(result.warnings));
      // Asking host-2's ledger would wait the whole bound (60 s) and then fail the deploy.
      assert.ok(oneMs < 40_000, `deploy on host-1 took ${oneMs} ms`);

      t0 = Date.now();
      const two = await runCli(['deploy', '-f', fileTwo], env);
      const twoMs = Date.now() - t0;
      assert.equal(two.code, 1, two.stderr);
      assert.match(two.stderr, /host host-2 is down: its worker last polled \d+ s ago \([^)]+\); service web placed on it\. Nothing was changed\. Start "dockflow worker --host host-2"/);
      assert.ok(twoMs < 40_000, `the refused deploy took ${twoMs} ms`);
      for (const host of hosts) assert.deepEqual(await projectContainers(host.docker, ON_TWO), [], `nothing of ${ON_TWO} on ${host.name}`);
      console.log(`with host-2 down: deploy on host-1 ${oneMs} ms, deploy needing host-2 refused in ${twoMs} ms`);
    } finally {
      await workers.start('host-2');
    }
  });

  it('once host-2 is back, the stack placed on it deploys', async () => {
    const run = await runCli(['deploy', '-f', fileTwo, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await projectContainers(hosts[1].docker, ON_TWO)).length, 1);
  });
});
