/**
 * Where one `dockflow deploy` process spends its time (issue 17), from
 * timestamps on one clock (this host's): the CLI's own (process start, the
 * first load of the heavy modules, every gRPC call to Temporal, the exit,
 * written by bench/cli-trace-preload.cjs), the workflow history's event
 * times and the Docker engine's container events of the project.
 *
 *   npm run bench:cli-timeline                      # this checkout's CLI, 3 services, 3 runs
 *   npm run bench:cli-timeline -- --cli /tmp/old/bin/dockflow.js --sizes 3,7 --runs 2
 *
 * Writes bench/results/cli-timeline-<time>.json (figures: the phases; details:
 * every run's merged timeline) and prints the timelines.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { chainStack } from './stacks';
import { eventMs, numericFlag, waitAllHealthy } from './support';
import { killHard, projectDir, removeProject, REPO_ROOT, spawnWorker, startTestBed, type TestBed } from '../test/support/harness';
import { cliEntry } from '../bin/build-stamp';
import { beginRun, writeRaw, type Figure } from './raw';

const SECTION = 'Deploy from the command line: one process, phase by phase (timestamps)';
const PRELOAD = path.join(__dirname, 'cli-trace-preload.cjs');
const DEPTH: Record<number, number> = { 3: 1, 7: 2, 20: 3, 50: 5 };
const log = (line: string) => console.log(`[bench:cli-timeline] ${line}`);

interface Mark {
  /** ms since the epoch. */
  at: number;
  source: 'cli' | 'workflow' | 'docker';
  what: string;
}

function runTraced(cli: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, traceFile: string): Promise<{ stderr: string; code: number | null }> {
  fs.rmSync(traceFile, { force: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', PRELOAD, cli, ...args], { cwd, env: { ...env, DOCKFLOW_TRACE_FILE: traceFile }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ stderr, code }));
  });
}

function cliMarks(traceFile: string): Mark[] {
  return fs
    .readFileSync(traceFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const space = line.indexOf(' ');
      return { at: Number(line.slice(0, space)), source: 'cli' as const, what: line.slice(space + 1) };
    });
}

async function workflowMarks(bed: TestBed, workflowId: string): Promise<Mark[]> {
  const events = (await bed.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.map((e) => {
    const type = String(e.eventType ? (e.eventType as unknown as number) : '?');
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? e.markerRecordedEventAttributes?.markerName ?? '';
    return { at: eventMs(e.eventTime), source: 'workflow' as const, what: `${eventName(type)}${name ? ` ${name}` : ''}` };
  });
}

/** The SDK's numeric event types, named (temporal.api.enums.v1.EventType). */
function eventName(type: string): string {
  const names: Record<string, string> = {
    1: 'WorkflowExecutionStarted', 2: 'WorkflowExecutionCompleted', 3: 'WorkflowExecutionFailed', 5: 'WorkflowTaskScheduled', 6: 'WorkflowTaskStarted',
    7: 'WorkflowTaskCompleted', 10: 'ActivityTaskScheduled', 11: 'ActivityTaskStarted', 12: 'ActivityTaskCompleted', 25: 'MarkerRecorded',
    29: 'StartChildWorkflowExecutionInitiated', 31: 'ChildWorkflowExecutionStarted', 32: 'ChildWorkflowExecutionCompleted', 40: 'UpsertWorkflowSearchAttributes',
  };
  return names[type] ?? `event ${type}`;
}

/**
 * The project's container events, streamed while the deploy runs: the engine
 * keeps only its last 256 events, which other users' health checks overrun
 * within seconds on a shared engine.
 */
async function watchDocker(docker: Docker, project: string): Promise<() => Mark[]> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [`com.docker.compose.project=${project}`] } })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const marks: Mark[] = [];
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
      if (e.Action.startsWith('exec_')) continue;
      marks.push({ at: e.timeNano / 1e6, source: 'docker', what: `container ${e.Action} ${e.Actor.Attributes.name ?? ''}`.trim() });
    }
  });
  return () => {
    stream.destroy();
    return marks;
  };
}

/** The phases: the first mark matching each pattern, relative to the process start. */
function phases(marks: Mark[]): Record<string, number | undefined> {
  const start = marks.find((m) => m.what.startsWith('process start'))!.at;
  const first = (source: Mark['source'], re: RegExp) => marks.find((m) => m.source === source && re.test(m.what))?.at;
  const last = (source: Mark['source'], re: RegExp) => [...marks].reverse().find((m) => m.source === source && re.test(m.what))?.at;
  const rel = (at: number | undefined) => (at === undefined ? undefined : Math.round(at - start) / 1000);
  return {
    'first Temporal call asked': rel(first('cli', /^call /)),
    'start asked': rel(first('cli', /^call StartWorkflowExecution/)),
    'workflow started (server)': rel(first('workflow', /WorkflowExecutionStarted/)),
    'first container created': rel(first('docker', /container create/)),
    'last container healthy': rel(last('docker', /health_status: healthy/)),
    'workflow completed (server)': rel(first('workflow', /WorkflowExecutionCompleted/)),
    'process exit': rel(first('cli', /^exit/)),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = numericFlag('--runs', 3);
  const cli = argv.includes('--cli') ? path.resolve(argv[argv.indexOf('--cli') + 1]) : path.join(REPO_ROOT, 'bin', 'dockflow.js');
  const sizes = argv.includes('--sizes') ? argv[argv.indexOf('--sizes') + 1].split(',').map(Number) : [3];
  const begun = beginRun();
  if (!argv.includes('--cli') && !cliEntry(REPO_ROOT, process.env).compiled) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], { stdio: 'inherit' });
  const bed = await startTestBed('bench-clitl');
  const worker = await spawnWorker(bed);
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TEMPORAL_ADDRESS: bed.address, TEMPORAL_NAMESPACE: 'default', DOCKFLOW_TASK_QUEUE: bed.taskQueue };
  const traceFile = path.join(os.tmpdir(), `dockflow-cli-trace-${process.pid}.log`);
  const figures: Figure[] = [];
  const details: { size: number; run: number; phases: Record<string, number | undefined>; timeline: string[] }[] = [];
  try {
    for (const n of sizes) {
      const project = `bench-clitl${n}`;
      const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, n, DEPTH[n] ?? 1) });
      const values: Record<string, number[]> = {};
      for (let run = 0; run < runs; run++) {
        await removeProject(bed.docker, project);
        const stopWatching = await watchDocker(bed.docker, project);
        const traced = await runTraced(cli, ['deploy', '-f', 'docker-compose.yml'], env, dir, traceFile);
        if (traced.code !== 0) throw new Error(`deploy exited ${traced.code}: ${traced.stderr.slice(-2000)}`);
        await waitAllHealthy(bed.docker, project, n);
        const workflowId = /\(workflow (\S+)\)/.exec(traced.stderr)?.[1];
        if (!workflowId) throw new Error(`no workflow named:\n${traced.stderr}`);
        const cliSide = cliMarks(traceFile);
        const dk = stopWatching();
        const wf = await workflowMarks(bed, workflowId);
        const marks = [...cliSide, ...wf, ...dk].sort((a, b) => a.at - b.at);
        const start = cliSide[0].at;
        const timeline = marks.map((m) => `${((m.at - start) / 1000).toFixed(3).padStart(7)} s  ${m.source.padEnd(8)} ${m.what}`);
        const ph = phases(marks);
        details.push({ size: n, run, phases: ph, timeline });
        for (const [k, v] of Object.entries(ph)) if (v !== undefined) (values[k] ??= []).push(v);
        log(`${n} services, run ${run + 1}:\n${timeline.join('\n')}`);
        log(`phases: ${JSON.stringify(ph)}`);
      }
      await removeProject(bed.docker, project);
      for (const [what, v] of Object.entries(values)) figures.push({ section: SECTION, what: `${n} services: ${what}`, tool: `dockflow deploy${argv.includes('--cli') ? ' (other CLI)' : ''}`, values: v, unit: 's since process start' });
    }
  } finally {
    await killHard(worker);
    await bed.teardown();
    fs.rmSync(traceFile, { force: true });
  }
  const file = writeRaw(begun, {
    kind: 'cli-timeline',
    ...(argv.includes('--cli') ? { series: 'other-cli' } : {}),
    runs,
    quick: false,
    versions: { node: process.version },
    notes: [`dockflow ran ${cli}`],
    figures,
    details,
  });
  log(`raw figures written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
