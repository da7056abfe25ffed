/**
 * Memory and throughput of one worker under many deploys at once (issue 17:
 * 50 concurrent deploys, peak worker RSS ≤ 250 MiB, 0 failures). The worker
 * runs as users run it, `dockflow worker` from the compiled CLI in its own
 * process (the CLI is built first when dist/ is stale), with a pre-built
 * workflow bundle; its RSS is sampled every 250 ms from /proc and its peak
 * read from VmHWM at the end.
 *
 *   npm run bench:scale                         # 50 concurrent 2-service deploys
 *   npm run bench:scale -- --count 10           # fewer
 *   npm run bench:scale -- --tsx                # the worker through tsx, as the tests spawn it
 *   npm run bench:scale -- --series "before"    # a comparison run, shown beside the newest plain run
 *
 * Writes bench/results/scale-<time>.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { loadStack } from '../src/compose';
import { chainStack } from './stacks';
import { numericFlag, sh } from './support';
import { beginRun, writeRaw, type Figure } from './raw';
import { bedWorkerEnv, killHard, projectDir, removeProject, REPO_ROOT, spawnPolling, spawnWorker, startTestBed, type TestBed } from '../test/support/harness';
import { cliEntry } from '../bin/build-stamp';

const log = (line: string) => console.log(`[bench:scale] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** `dockflow worker` from bin/dockflow.js (dist/ when fresh), resolved once it polls. */
export function spawnCliWorker(bed: TestBed, env: Record<string, string> = {}): Promise<ChildProcess> {
  return spawnPolling([path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'worker'], { cwd: REPO_ROOT, env: { ...bedWorkerEnv(bed), ...env } });
}

/** kB fields of /proc/<pid>/status, in MiB. */
function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

export interface ScaleOptions {
  count: number;
  /** Spawn the worker through tsx (as tests do) instead of the compiled CLI. */
  tsx?: boolean;
  workerEnv?: Record<string, string>;
  /** Prefix of the projects (unique per user of the shared engine). */
  prefix?: string;
}

export interface ScaleOutcome {
  figures: Figure[];
  notes: string[];
  details: { rssSamples: [number, number][]; idleRssMiB: number; workerVia: string };
}

/** `count` 2-service deploys started at once on one worker; figures: failures, time, peak RSS, history events. */
export async function scaleSection(bed: TestBed, docker: Docker, options: ScaleOptions): Promise<ScaleOutcome> {
  const { count } = options;
  const prefix = options.prefix ?? 'bench-sc';
  const notes: string[] = [];
  const stacks = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (const p of stacks) await removeProject(docker, p);
  const workerVia = options.tsx ? 'tsx workers/main.ts (as the tests spawn it)' : `dockflow worker (${cliEntry(REPO_ROOT, process.env).compiled ? 'compiled CLI, dist/' : 'TypeScript sources through tsx'})`;
  const workerEnv = { ...options.workerEnv, ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BENCH_WORKER_")).map(([k, v]) => [k.slice("BENCH_WORKER_".length), v!])) };
  if (Object.keys(workerEnv).length) notes.push(`scale: worker environment ${JSON.stringify(workerEnv)}`);
  const worker = options.tsx ? await spawnWorker(bed, workerEnv) : await spawnCliWorker(bed, workerEnv);
  await sleep(2000);
  const idleRssMiB = memoryOf(worker.pid!)?.rssMiB ?? 0;
  // A subnet each: the engine's default address pools hold about 30 bridge networks,
  // and 22 of the first run's 50 deploys failed on exactly that (bench/RESULTS.md).
  const specs = stacks.map((p, i) => loadStack({ files: [path.join(projectDir(p, { 'docker-compose.yml': chainStack(p, 2, 2, `10.240.${i}.0/24`) }), 'docker-compose.yml')], environment: {} }).spec);
  const t = Date.now();
  const rssSamples: [number, number][] = [];
  const sampler = setInterval(() => {
    const m = memoryOf(worker.pid!);
    if (m) rssSamples.push([round((Date.now() - t) / 1000, 2), round(m.rssMiB)]);
  }, 250);
  const handles = await Promise.all(specs.map((spec, i) => bed.env.client.workflow.start('deploy', { taskQueue: bed.taskQueue, workflowId: `${prefix}-${i}-${Date.now()}`, args: [{ spec }] })));
  const outcomes = await Promise.allSettled(handles.map((h) => h.result()));
  const seconds = (Date.now() - t) / 1000;
  clearInterval(sampler);
  const peakMiB = memoryOf(worker.pid!)?.hwmMiB ?? 0;
  const perService: number[] = [];
  for (const h of handles) perService.push((await h.fetchHistory()).events!.length / 2);
  await killHard(worker);
  for (const p of stacks) await removeProject(docker, p);
  // A rejected result() can be the client's own call timing out on an overloaded server
  // (DEADLINE_EXCEEDED) while the deploy itself completed: the workflow's status decides.
  const statuses = await Promise.all(handles.map(async (h) => (await h.describe()).status.name));
  const failed = statuses.filter((s) => s !== 'COMPLETED').length;
  // Why they failed, by message (the innermost cause).
  const reasons = new Map<string, number>();
  for (const [i, o] of outcomes.entries()) {
    if (o.status !== 'rejected') continue;
    if (statuses[i] === 'COMPLETED') {
      const message = `completed, but the client's result() call failed: ${String((o.reason as Error)?.message ?? o.reason).slice(0, 200)}`;
      reasons.set(message, (reasons.get(message) ?? 0) + 1);
      continue;
    }
    let cause: unknown = o.reason;
    while ((cause as { cause?: unknown })?.cause) cause = (cause as { cause: unknown }).cause;
    const message = `failed with: ${String((cause as Error)?.message ?? cause).replaceAll(prefix, 'PROJECT').slice(0, 300)}`;
    reasons.set(message, (reasons.get(message) ?? 0) + 1);
  }
  for (const [message, n] of reasons) notes.push(`scale: ${n} deploy(s) ${message}`);
  notes.push(`scale: worker ran as ${workerVia}; RSS ${round(idleRssMiB)} MiB idle before the deploys`);
  log(`${count} concurrent 2-service deploys: ${failed} failed, ${round(seconds)} s, worker peak RSS ${round(peakMiB)} MiB (idle ${round(idleRssMiB)} MiB)`);
  const what = `${count} concurrent 2-service deploys, one worker`;
  const figures: Figure[] = [
    { section: 'Scale', what, tool: 'dockflow: failed deploys', values: [failed], unit: 'deploys' },
    { section: 'Scale', what, tool: 'dockflow: total time', values: [round(seconds)], unit: 's' },
    { section: 'Scale', what, tool: 'dockflow: worker peak RSS (VmHWM)', values: [round(peakMiB)], unit: 'MiB' },
    { section: 'Scale', what, tool: 'dockflow: worker RSS when idle, before', values: [round(idleRssMiB)], unit: 'MiB' },
    { section: 'Scale', what, tool: 'dockflow: history events per service', values: perService.map((v) => round(v)), unit: 'events/service' },
  ];
  return { figures, notes, details: { rssSamples, idleRssMiB: round(idleRssMiB), workerVia } };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const count = numericFlag('--count', 50);
  const tsx = argv.includes('--tsx');
  const seriesAt = argv.indexOf('--series');
  const series = seriesAt >= 0 ? argv[seriesAt + 1] : undefined;
  const begun = beginRun();
  execFileSync('bash', [path.join(__dirname, 'setup.sh')], { stdio: 'inherit' });
  if (!tsx && !cliEntry(REPO_ROOT, process.env).compiled) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], { stdio: 'inherit' });
  const bed = await startTestBed('bench-scale');
  let outcome: ScaleOutcome;
  try {
    outcome = await scaleSection(bed, bed.docker, { count, tsx });
  } finally {
    await bed.teardown();
  }
  const versions = { node: process.version, 'Docker engine': sh('docker', ['version', '--format', '{{.Server.Version}}']).trim() };
  const file = writeRaw(begun, { kind: 'scale', ...(series ? { series } : {}), runs: 1, quick: count !== 50, versions, notes: outcome.notes, figures: outcome.figures, details: outcome.details });
  log(`written to ${file}`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
