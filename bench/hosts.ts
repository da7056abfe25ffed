/**
 * `npm run bench:hosts [-- --runs 3 --services 9 --depth 3]`: one stack
 * deployed three ways on simulated hosts (src/dev/simulated-hosts.ts, a
 * private dockerd each), every way on the same kind of engine:
 *
 *   single-host   today's single-host deploy: a plain worker (no --host) on host-1's engine
 *   3 hosts       the same stack with its services spread over host-1..3 by placement constraints
 *   1 of 3 hosts  the multi-host path with every service on host-1 (what the multi-host
 *                 orchestration itself costs, without the spread)
 *
 * Each figure is trigger to result (every service healthy), the ways
 * interleaved run by run so load drifts hit all of them alike; with the
 * history's event count of each deploy. Raw JSON goes to bench/results/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowClient } from '@temporalio/client';
import { loadStack } from '../src/compose';
import { BASE_IMAGE } from '../src/demo/base-image';
import { createDockflowWorker } from '../workers/worker';
import { removeProject, startTestBed } from '../test/support/harness';
import { loadImages, startHostWorkers, startSimulatedHosts, stopSimulatedHosts } from '../test/support/hosts';
import { chainLevel } from './stacks';
import { numericFlag } from './support';

type Way = 'single-host' | '3 hosts' | '1 of 3 hosts';
const WAYS: Way[] = ['single-host', '3 hosts', '1 of 3 hosts'];
const SHARED_QUEUE = 'bench-hosts';
const SINGLE_QUEUE = 'bench-hosts-single';

/** The bench's chain stack (bench/stacks.ts's shape), each service placed by `hostOf` (none: no constraint). */
function stack(project: string, n: number, depth: number, hostOf: (i: number) => string | undefined): string {
  const lines = [`name: ${project}`, 'services:'];
  for (let i = 0; i < n; i++) {
    const level = chainLevel(i, n, depth);
    const dep = level === 0 ? undefined : Math.floor(((level - 1) * n) / depth);
    lines.push(
      `  s${i}:`,
      `    image: ${BASE_IMAGE}`,
      `    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]`,
      `    init: true`,
      `    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 60}`,
    );
    if (dep !== undefined) lines.push(`    depends_on: {s${dep}: {condition: service_healthy}}`);
    const host = hostOf(i);
    if (host) lines.push(`    deploy: {placement: {constraints: ["node.hostname == ${host}"]}}`);
  }
  return `${lines.join('\n')}\n`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const runs = numericFlag('--runs', 3);
  const n = numericFlag('--services', 9);
  const depth = numericFlag('--depth', 3);
  const loadBefore = os.loadavg();
  const bed = await startTestBed(SHARED_QUEUE);
  const hosts = await startSimulatedHosts(bed.stateDir, [{ name: 'host-1' }, { name: 'host-2' }, { name: 'host-3' }]);
  for (const h of hosts) await loadImages(bed.docker, h.docker, [BASE_IMAGE]);
  const workers = await startHostWorkers(bed, hosts);
  const single = await createDockflowWorker({
    address: bed.address,
    namespace: 'default',
    taskQueue: SINGLE_QUEUE,
    connection: bed.env.nativeConnection,
    docker: hosts[0].docker,
    workflowBundlePath: bed.bundlePath,
    stateDir: path.join(bed.stateDir, 'single'),
    notify: [],
  });
  const singleRunning = single.worker.run();
  const client = new WorkflowClient({ connection: bed.env.connection, namespace: 'default' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hosts-'));
  const hostInfos = hosts.map((h) => ({ name: h.name, labels: h.labels }));
  const samples: { way: Way; run: number; seconds: number; events: number }[] = [];
  try {
    for (let run = 0; run <= runs; run++) {
      for (const way of WAYS) {
        const project = `bench-hosts-${way === 'single-host' ? '1h' : way === '3 hosts' ? '3h' : '1of3'}-${run}`;
        const file = path.join(dir, `${project}.yml`);
        fs.writeFileSync(file, stack(project, n, depth, way === '3 hosts' ? (i) => `host-${(i % 3) + 1}` : way === '1 of 3 hosts' ? () => 'host-1' : () => undefined));
        const { spec } = loadStack({ files: [file] });
        const started = Date.now();
        const handle = await client.start('deploy', {
          taskQueue: way === 'single-host' ? SINGLE_QUEUE : SHARED_QUEUE,
          workflowId: `deploy-${project}-${started}`,
          args: [way === 'single-host' ? { spec } : { spec, hosts: hostInfos }],
        });
        await handle.result();
        const seconds = (Date.now() - started) / 1000;
        const events = (await handle.fetchHistory()).events?.length ?? 0;
        // Run 0 warms every path (bundle caches, first activity of each type): not counted.
        if (run > 0) samples.push({ way, run, seconds, events });
        console.log(`${run === 0 ? 'warm-up ' : ''}run ${run} ${way}: ${seconds.toFixed(2)} s, ${events} history events`);
        for (const h of hosts) await removeProject(h.docker, project);
      }
    }
  } finally {
    single.worker.shutdown();
    await singleRunning.catch(() => undefined);
    await workers.stopAll();
    await stopSimulatedHosts(hosts);
    await bed.teardown();
  }
  const summary = Object.fromEntries(
    WAYS.map((way) => {
      const mine = samples.filter((s) => s.way === way);
      return [way, { medianSeconds: median(mine.map((s) => s.seconds)), minSeconds: Math.min(...mine.map((s) => s.seconds)), maxSeconds: Math.max(...mine.map((s) => s.seconds)), events: median(mine.map((s) => s.events)) }];
    }),
  );
  const ratio = summary['3 hosts'].medianSeconds / summary['single-host'].medianSeconds;
  const result = {
    bench: 'hosts',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadBefore, loadAfter: os.loadavg() },
    stack: { services: n, depth, healthyAfterSeconds: 1 },
    runs,
    samples,
    summary,
    ratio3HostsToSingle: Number(ratio.toFixed(3)),
  };
  const out = path.join(__dirname, 'results', `hosts-${result.date.slice(0, 16).replace(/:/g, '-')}Z.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
  console.log(`3 hosts / single-host (median): ${ratio.toFixed(2)}x; raw results in ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
