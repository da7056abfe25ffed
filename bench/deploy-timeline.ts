/**
 * Where a large deploy's time goes, for dockflow and docker-compose side by
 * side: the bench's 50-service, depth-5 chain stack, timed from the Docker
 * engine's own events (create, start, health_status) so both tools are
 * measured by the same clock, plus, for dockflow, the Temporal history's
 * activity latencies.
 *
 *   npm run bench:timeline              # 50 services, depth 5, 3 runs
 *   npm run bench:timeline -- --runs 1 --services 20 --depth 3
 *
 * The critical chain of a chain stack goes through each level's first
 * service (every service of the next level depends on it), so the time is
 * split along that chain: the tool's reaction (dependency healthy → next
 * container created), create → start, start → healthy (the app's 1 s plus
 * Docker's health interval), and the tail (last container healthy → the
 * tool reports done). Prints a Markdown report and writes its raw figures to
 * bench/results/timeline-<time>.json (bench/raw.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import type Docker from 'dockerode';
import type { temporal } from '@temporalio/proto';
import { loadStack } from '../src/compose';
import { eventMs, numericFlag } from './support';
import { killHard, projectDir, removeProject, spawnWorker, startTestBed } from '../test/support/harness';
import { chainLevel, chainStack } from './stacks';
import { beginRun, writeRaw, type Figure } from './raw';

const RUNS = numericFlag('--runs', 3);
const N = numericFlag('--services', 50);
const DEPTH = numericFlag('--depth', 5);
const TASK_QUEUE = 'bench-timeline';

interface ContainerTimes {
  create?: number;
  start?: number;
  healthy?: number;
}

/**
 * Engine events of one project, recorded live from before the trigger: per
 * service, when it was created, started and first healthy (ms). A live
 * subscription, because the engine keeps only its last 256 events for
 * `since` queries, and 50 health checks' exec events push the creates out
 * within seconds.
 */
async function recordEngineTimes(docker: Docker, project: string): Promise<{ stop(): Promise<Map<string, ContainerTimes>> }> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], label: [`com.docker.compose.project=${project}`] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  const times = new Map<string, ContainerTimes>();
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      const e = JSON.parse(line) as { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
      const service = e.Actor.Attributes['com.docker.compose.service'];
      if (!service) continue;
      const at = e.timeNano / 1e6;
      const t = times.get(service) ?? {};
      if (e.Action === 'create') t.create ??= at;
      else if (e.Action === 'start') t.start ??= at;
      else if (e.Action === 'health_status: healthy') t.healthy ??= at;
      times.set(service, t);
    }
  });
  return {
    async stop() {
      await sleep(500); // events trail the API calls by a few ms
      stream.destroy();
      return times;
    },
  };
}

interface Split {
  reaction: number;
  createToStart: number;
  startToHealthy: number;
  tail: number;
  total: number;
}

/** Split a run's time along the critical chain (seconds). */
function split(times: Map<string, ContainerTimes>, triggerMs: number, doneMs: number): Split {
  const get = (service: string) => {
    const t = times.get(service);
    if (!t?.create || !t.start || !t.healthy) throw new Error(`no create/start/healthy events for ${service}: ${JSON.stringify(t)}`);
    return t as Required<ContainerTimes>;
  };
  let released = triggerMs;
  const s: Split = { reaction: 0, createToStart: 0, startToHealthy: 0, tail: 0, total: (doneMs - triggerMs) / 1000 };
  for (let level = 0; level < DEPTH; level++) {
    const head = get(`s${Math.floor((level * N) / DEPTH)}`);
    s.reaction += (head.create - released) / 1000;
    s.createToStart += (head.start - head.create) / 1000;
    s.startToHealthy += (head.healthy - head.start) / 1000;
    released = head.healthy;
  }
  s.tail = (doneMs - released) / 1000;
  return s;
}

/** Per level: first create → last start, i.e. how long the tool takes to bring up the level's containers once it begins. */
function levelSpread(times: Map<string, ContainerTimes>): number[] {
  const spread: number[] = [];
  for (let level = 0; level < DEPTH; level++) {
    const members = [...Array(N).keys()].filter((i) => chainLevel(i, N, DEPTH) === level).map((i) => times.get(`s${i}`)!);
    const first = Math.min(...members.map((t) => t.create!));
    const last = Math.max(...members.map((t) => t.start!));
    spread.push((last - first) / 1000);
  }
  return spread;
}

/** Schedule-to-start and start-to-close of every activity of a history, and workflow task queueing, in ms. */
function historyLatencies(history: temporal.api.history.v1.IHistory): { scheduleToStart: number[]; startToClose: Record<string, number[]>; workflowTaskQueue: number[]; activities: number } {
  const scheduled = new Map<number, { at: number; type: string }>();
  const started = new Map<number, number>();
  const scheduleToStart: number[] = [];
  const startToClose: Record<string, number[]> = {};
  const workflowTaskQueue: number[] = [];
  const wtScheduled = new Map<number, number>();
  for (const e of history.events ?? []) {
    const id = Number(e.eventId);
    const at = eventMs(e.eventTime);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, { at, type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?' });
    if (e.activityTaskStartedEventAttributes) {
      const s = scheduled.get(Number(e.activityTaskStartedEventAttributes.scheduledEventId))!;
      scheduleToStart.push(at - s.at);
      started.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), at);
    }
    if (e.activityTaskCompletedEventAttributes) {
      const sid = Number(e.activityTaskCompletedEventAttributes.scheduledEventId);
      (startToClose[scheduled.get(sid)!.type] ??= []).push(at - started.get(sid)!);
    }
    if (e.workflowTaskScheduledEventAttributes) wtScheduled.set(id, at);
    if (e.workflowTaskStartedEventAttributes) workflowTaskQueue.push(at - wtScheduled.get(Number(e.workflowTaskStartedEventAttributes.scheduledEventId))!);
  }
  return { scheduleToStart, startToClose, workflowTaskQueue, activities: scheduled.size };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
const p90 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length * 0.9)] ?? 0;
const r = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const sleep = (n: number) => new Promise((res) => setTimeout(res, n));

async function waitAllHealthy(docker: Docker, project: string, expected: number): Promise<void> {
  for (;;) {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } });
    if (list.filter((c) => /\(healthy\)/.test(c.Status)).length >= expected) return;
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const begun = beginRun();
  execFileSync('bash', [path.join(__dirname, 'setup.sh')], { stdio: 'inherit' });
  const bed = await startTestBed(TASK_QUEUE);
  const worker = await spawnWorker(bed);
  const docker = bed.docker;
  const project = `bench-tl${N}`;
  const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, N, DEPTH) });
  const anchorFile = path.join(dir, 'anchor-compose.yml');
  fs.writeFileSync(anchorFile, chainStack(project, N, DEPTH).replace(/^name: .*\n/, ''));
  const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
  const rows: { tool: string; split: Split; spread: number[] }[] = [];
  const latencies: ReturnType<typeof historyLatencies>[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      await removeProject(docker, project);
      let recording = await recordEngineTimes(docker, project);
      let t0 = Date.now();
      const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-timeline-${run}-${Date.now()}`, args: [{ spec }] });
      await handle.result();
      let t1 = Date.now();
      let times = await recording.stop();
      rows.push({ tool: 'dockflow deploy', split: split(times, t0, t1), spread: levelSpread(times) });
      latencies.push(historyLatencies(await handle.fetchHistory()));
      await removeProject(docker, project);

      recording = await recordEngineTimes(docker, project);
      t0 = Date.now();
      const up = spawnSync('docker-compose', ['-p', project, '-f', anchorFile, 'up', '-d', '--no-color'], { cwd: dir, encoding: 'utf8' });
      if (up.status !== 0) throw new Error(`docker-compose up failed: ${up.stderr}`);
      await waitAllHealthy(docker, project, N);
      t1 = Date.now();
      times = await recording.stop();
      rows.push({ tool: 'docker-compose up -d + wait', split: split(times, t0, t1), spread: levelSpread(times) });
      await removeProject(docker, project);
      console.error(`[timeline] run ${run + 1}: dockflow ${rows.at(-2)!.split.total} s, docker-compose ${rows.at(-1)!.split.total} s`);
    }
  } finally {
    await removeProject(docker, project);
    await killHard(worker);
    await bed.teardown();
  }

  const out: string[] = [];
  out.push(`## Where a ${N}-service, depth-${DEPTH} deploy's time goes (${RUNS} run(s) each, seconds along the critical chain)`, '');
  out.push('| tool | run | total | reaction (dependency healthy → create) | create → start | start → healthy | tail (last healthy → done) | per level: first create → last start |');
  out.push('|---|---|---|---|---|---|---|---|');
  rows.forEach((row, i) => {
    const s = row.split;
    out.push(`| ${row.tool} | ${Math.floor(i / 2) + 1} | ${r(s.total)} | ${r(s.reaction)} | ${r(s.createToStart)} | ${r(s.startToHealthy)} | ${r(s.tail)} | ${row.spread.map((v) => r(v)).join(' / ')} |`);
  });
  const all = latencies.flatMap((l) => l.scheduleToStart);
  const wt = latencies.flatMap((l) => l.workflowTaskQueue);
  out.push('', `dockflow history, all runs: ${latencies.map((l) => l.activities).join(' / ')} activities per deploy; activity schedule → start median ${r(median(all), 0)} ms, p90 ${r(p90(all), 0)} ms, max ${r(Math.max(...all), 0)} ms; workflow task schedule → start median ${r(median(wt), 0)} ms, p90 ${r(p90(wt), 0)} ms.`, '');
  out.push('| activity | count (all runs) | start → close median ms | p90 ms |', '|---|---|---|---|');
  const byType: Record<string, number[]> = {};
  for (const l of latencies) for (const [type, v] of Object.entries(l.startToClose)) (byType[type] ??= []).push(...v);
  for (const [type, v] of Object.entries(byType).sort((a, b) => b[1].length - a[1].length)) out.push(`| ${type} | ${v.length} | ${r(median(v), 0)} | ${r(p90(v), 0)} |`);
  console.log(out.join('\n'));

  // The same figures, every run's value kept, for bench/RESULTS.md (bench/report.ts).
  const section = `Where a ${N}-service, depth-${DEPTH} deploy's time goes (seconds along the critical chain)`;
  const parts: [keyof Split, string][] = [['total', 'total'], ['reaction', 'reaction (dependency healthy → create)'], ['createToStart', 'create → start'], ['startToHealthy', 'start → healthy'], ['tail', 'tail (last healthy → done)']];
  const figures: Figure[] = [];
  for (const [key, what] of parts) {
    for (const tool of ['docker-compose up -d + wait', 'dockflow deploy']) {
      figures.push({ section, what, tool, values: rows.filter((row) => row.tool === tool).map((row) => r(row.split[key])), unit: 's', ...(tool === 'dockflow deploy' ? { anchorOf: 'docker-compose up -d + wait' } : {}) });
    }
  }
  const activitySection = `Where a ${N}-service, depth-${DEPTH} deploy's time goes: dockflow's activities (all runs)`;
  figures.push({ section: activitySection, what: 'activity schedule → start', tool: 'dockflow', values: all.map((v) => r(v, 0)), unit: 'ms' });
  figures.push({ section: activitySection, what: 'workflow task schedule → start', tool: 'dockflow', values: wt.map((v) => r(v, 0)), unit: 'ms' });
  for (const [type, v] of Object.entries(byType)) figures.push({ section: activitySection, what: `${type}: start → close`, tool: 'dockflow', values: v.map((x) => r(x, 0)), unit: 'ms' });
  const file = writeRaw(begun, { kind: 'timeline', runs: RUNS, quick: N !== 50 || DEPTH !== 5, versions: { node: process.version }, notes: [], figures, details: { rows } });
  console.error(`[timeline] raw figures written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
