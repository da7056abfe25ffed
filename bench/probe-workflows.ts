/**
 * What N cached deploy workflows cost a worker, without Docker (issue 17).
 * A worker in its own process runs the real workflow bundle with stand-in
 * activities: checkPolicy succeeds, every other activity never finishes, so
 * each deploy stops at its images step holding its project lock, as the
 * deploys of bench/scale.ts do while their containers start. The figure is the
 * worker's RSS before and after, divided by N. It isolates the workflow side
 * (modules evaluated per execution, workflow state) from Docker and load.
 *
 *   tsx bench/probe-workflows.ts [--count 50] [--label text]
 *   PROBE_PRELOAD=none tsx bench/probe-workflows.ts   # the bundle without preloaded modules
 *
 * Prints one line; writes nothing. Not yet reliable: some runs with 50 deploys
 * did not see 50 locks within 300 s (cause not found; bench/ANALYSIS.md,
 * 2026-12-01 h7-mem), and it stops with that message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { startDevServer } from '../src/temporal/dev-server';
import { loadStack } from '../src/compose';
import { workflowBundleOptions, workflowInterceptorModules } from '../workers/worker';
import { chainStack } from './stacks';
import { numericFlag } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const hwmMiB = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** The worker side: argv address, task queue, bundle file. */
async function child(address: string, taskQueue: string, bundle: string): Promise<void> {
  const { createActivities } = await import('../activities');
  const real = createActivities({ docker: undefined as never, stateDir: os.tmpdir(), temporal: () => Promise.reject(new Error('no client')), notify: [] }) as Record<string, unknown>;
  const activities = Object.fromEntries(Object.keys(real).map((name) => [name, name === 'checkPolicy' ? async () => undefined : () => new Promise(() => undefined)]));
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle: { codePath: bundle }, activities });
  console.log('polling task queue');
  await worker.run();
}

async function main(): Promise<void> {
  const count = numericFlag('--count', 50);
  const argv = process.argv.slice(2);
  const label = argv.includes('--label') ? argv[argv.indexOf('--label') + 1] : '';
  const options = workflowBundleOptions();
  const preloadModules = process.env.PROBE_PRELOAD === 'none' ? [] : options.preloadModules;
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({ ...options, workflowInterceptorModules: workflowInterceptorModules(), preloadModules, logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-probe-'));
  const bundle = path.join(dir, 'workflows.js');
  fs.writeFileSync(bundle, code);
  const env = await startDevServer({});
  const taskQueue = `probe-${Date.now()}`;
  const worker = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', env.address, taskQueue, bundle], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.stdout!.on('data', (b: Buffer) => b.toString().includes('polling') && resolve());
      worker.once('exit', (c) => reject(new Error(`worker exited with ${c}`)));
    });
    await sleep(3000);
    const idle = rssMiB(worker.pid!);
    const projects = Array.from({ length: count }, (_, i) => `probe${i}`);
    const specs = projects.map((p, i) => {
      const d = fs.mkdtempSync(path.join(dir, 'p-'));
      fs.writeFileSync(path.join(d, 'docker-compose.yml'), chainStack(p, 2, 2, `10.240.${i}.0/24`));
      return loadStack({ files: [path.join(d, 'docker-compose.yml')], environment: {} }).spec;
    });
    const t = Date.now();
    const handles = await Promise.all(specs.map((spec, i) => env.client.workflow.start('deploy', { taskQueue, workflowId: `probe-${i}-${t}`, args: [{ spec }] })));
    // Every deploy holds its lock (a projectLock workflow each) and waits on its images step (a local activity).
    for (;;) {
      let locks = 0;
      for await (const w of env.client.workflow.list({ query: `WorkflowType='projectLock' AND ExecutionStatus='Running'` })) if (w.taskQueue === taskQueue) locks++;
      if (locks >= count) break;
      if (Date.now() - t > 300_000) throw new Error(`${locks} of ${count} deploys held their lock after 300 s`);
      await sleep(1000);
    }
    const seconds = (Date.now() - t) / 1000;
    await sleep(3000);
    const after = rssMiB(worker.pid!);
    const peak = hwmMiB(worker.pid!);
    const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(
      `[probe] ${label} preload=${JSON.stringify(preloadModules)} count=${count}: idle ${idle.toFixed(1)} MiB, after ${after.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB, ` +
        `${((after - idle) / count).toFixed(2)} MiB per deploy (with its lock), all holding their lock after ${seconds.toFixed(1)} s, load ${load}`,
    );
    await Promise.all(handles.map((h) => h.terminate('probe done').catch(() => undefined)));
  } finally {
    worker.kill('SIGKILL');
    await env.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4], process.argv[5]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
