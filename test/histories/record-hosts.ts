/**
 * Records histories of operations across two simulated hosts into
 * test/histories/hosts-*.json, for the replay test: what no single-host
 * history reaches (the patches `dockflow-spread-replicas`,
 * `dockflow-spread-data`, `dockflow-host-liveness` and
 * `dockflow-host-liveness-every-operation`,
 * each host's task queue, the merged step of a spread service). Run it after
 * a deliberate change to workflow code, beside `npm run record-histories`:
 *
 *   npm run record-host-histories
 *
 * It needs what the multi-host integration tests need: Docker, the Temporal
 * CLI, and root (each simulated host is a private dockerd in its own network
 * namespace, src/dev/simulated-hosts.ts). About 3 minutes: the runs with a
 * host down wait until Temporal's poller list shows it down (75 s).
 *
 * Recorded: a deploy with a service spread over both hosts (and one pinned to
 * the first), an update of the spread service's image rolled across them, a
 * rollback, a backup of the pinned service's volume and of each host's copy
 * of the spread service's; then, with the second
 * host's worker stopped and known down, a rollback that goes on without it
 * and a down that clears the first host and names what the second still
 * runs; and, once it is back, a down of every host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { findTemporalCli } from '../../src/temporal/settings';
import { loadStack } from '../../src/compose';
import { lastPoll } from '../../src/client/host-registrations';
import { hostTaskQueue, type HostInfo } from '../../src/model/hosts';
import { LONG_POLL_SECONDS } from '../../workflows/host-liveness';
import { TEST_IMAGE, buildImage, projectDir, removeProject, startTestBed } from '../support/harness';
import { loadImages, startHostWorkers, startSimulatedHosts, stopSimulatedHosts, type SimulatedHost } from '../support/hosts';

const TASK_QUEUE = 'record-host-histories';
const OUT = path.resolve(__dirname);
const PROJECT = 'rechosts';
// Names of their own: a test file may simulate host-1 … host-N at the same time.
const H1 = 'rh-host-1';
const H2 = 'rh-host-2';
const NEW_IMAGE = `${PROJECT}/app:2`;

/** db pinned to H1 with a volume; web: 3 replicas spread over both hosts (zone eu, at most 2 per host), rolled one at a time, each host with its copy of the cache volume. */
function compose(release: string): string {
  return `
name: ${PROJECT}
services:
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
    deploy:
      placement: {constraints: ["node.hostname == ${H1}"]}
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo ${release} > /www/index.html; exec httpd -f -p 80 -h /www"]
    environment: {RELEASE: "${release}"}
    stop_grace_period: 1s
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval: 1s, retries: 5}
    volumes: ["cache:/cache"]
    deploy:
      replicas: 3
      placement: {constraints: ["node.labels.zone == eu"], max_replicas_per_node: 2}
      update_config: {parallelism: 1, order: stop-first, failure_action: rollback}
volumes:
  data: {}
  cache: {}
`;
}

async function main(): Promise<void> {
  const cli = findTemporalCli();
  if (!cli) throw new Error('the Temporal CLI is needed to export histories: run scripts/testbed.sh temporal');
  const bed = await startTestBed(TASK_QUEUE);
  let hosts: SimulatedHost[] = [];
  let workers: Awaited<ReturnType<typeof startHostWorkers>> | undefined;
  try {
    await buildImage(bed.docker, NEW_IMAGE, `FROM ${TEST_IMAGE}\nLABEL dockflow.test.release=2\n`);
    hosts = await startSimulatedHosts(bed.stateDir, [
      { name: H1, labels: { zone: 'eu' } },
      { name: H2, labels: { zone: 'eu' } },
    ]);
    for (const host of hosts) {
      await removeProject(host.docker, PROJECT);
      await loadImages(bed.docker, host.docker, [TEST_IMAGE]);
    }
    workers = await startHostWorkers(bed, hosts);
    // What the CLI passes with hosts registered (src/cli/stack-commands.ts, everyHost).
    const registered: HostInfo[] = hosts.map(({ name, labels }) => ({ name, labels }));
    const dir = projectDir(PROJECT, { 'docker-compose.yml': compose('1') });
    const spec = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;

    // The Temporal CLI writes the canonical JSON form that historyFromJSON reads back.
    const run = async (name: string, type: string, input: Record<string, unknown>, expect: 'completed' | 'failed' = 'completed') => {
      const handle = await bed.env.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `history-${name}`, args: [{ ...input, hosts: registered }] });
      const result = await handle.result().then(
        (r: unknown) => ({ outcome: 'completed', detail: JSON.stringify(r).slice(0, 160) }),
        (err: Error) => ({ outcome: 'failed', detail: (err.cause as Error | undefined)?.message ?? err.message }),
      );
      const json = execFileSync(cli, ['workflow', 'show', '--address', bed.address, '--workflow-id', handle.workflowId, '--output', 'json'], { encoding: 'utf8' });
      fs.writeFileSync(path.join(OUT, `${name}.json`), json);
      console.log(`${name}: ${type} ${result.outcome} (${JSON.parse(json).events.length} events): ${result.detail}`);
      // A history of another outcome than the scenario means is not what the file name says.
      if (result.outcome !== expect) throw new Error(`${name}: expected ${expect}, got ${result.outcome}: ${result.detail}`);
    };

    await run('hosts-deploy-spread', 'deploy', { spec });
    await run('hosts-update-spread', 'update', { project: PROJECT, service: 'web', image: NEW_IMAGE });
    await run('hosts-rollback', 'rollback', { project: PROJECT });
    await run('hosts-backup', 'backup', { project: PROJECT });

    // H2's worker stops; once Temporal shows its last poll older than a long poll, H2 is known down.
    await workers.stop(H2);
    for (const deadline = Date.now() + 180_000; ; ) {
      const seen = await lastPoll(bed.env.client.workflow, hostTaskQueue(TASK_QUEUE, H2));
      if (seen && (Date.now() - Date.parse(seen)) / 1000 > LONG_POLL_SECONDS + 2) break;
      if (Date.now() > deadline) throw new Error(`${H2}'s last poll stays recent: ${seen}`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    await run('hosts-rollback-host-down', 'rollback', { project: PROJECT });
    await run('hosts-down-host-down', 'down', { project: PROJECT });
    await workers.start(H2);
    await run('hosts-down', 'down', { project: PROJECT });
  } finally {
    for (const host of hosts) await removeProject(host.docker, PROJECT).catch(() => undefined);
    await workers?.stopAll();
    await stopSimulatedHosts(hosts);
    await bed.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
