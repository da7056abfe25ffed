/**
 * dockflow as users run it (issue 17): the `dockflow` command as a process,
 * from its start to its exit, against a worker that is already running (as
 * on a server), side by side with docker-compose 1.29 on the same compose
 * file. Deploy is timed from process start to every container healthy;
 * `--help` and `ps` from process start to exit.
 *
 *   npm run bench:cli                  # 3 runs per figure, 3/7/20/50 services
 *   npm run bench:cli -- --quick       # 1 run, 3 and 7 services (to check the bench itself)
 *   npm run bench:cli -- --cli /tmp/old/bin/dockflow.js   # another checkout's CLI (before/after)
 *   npm run bench:cli -- --sizes 3,7   # only these stack sizes
 *
 * Run alone, it writes its raw figures to bench/results/cli-<time>.json
 * (bench/raw.ts); `npm run bench:report` puts them in bench/RESULTS.md.
 * `npm run bench` runs the same section (`--only cli`) among the others.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { chainStack } from './stacks';
import { eventMs, sh, waitAllHealthy } from './support';
import { killHard, projectDir, removeProject, REPO_ROOT, spawnWorker, startTestBed, type TestBed } from '../test/support/harness';
import { cliEntry } from '../bin/build-stamp';
import { beginRun, writeRaw, type Figure } from './raw';

export type CliFigure = Figure;

export const DEPLOY_SECTION = 'Deploy from the command line: process start to all healthy';
export const STARTUP_SECTION = 'Command line start-up: process start to exit';
export const SPLIT_SECTION = 'Deploy from the command line: where the CLI process spends its time';

/** n services in `depth` levels of service_healthy dependencies. */
const SIZES: [number, number][] = [[3, 1], [7, 2], [20, 3], [50, 5]];
const QUICK_SIZES: [number, number][] = [[3, 1], [7, 2]];
const log = (line: string) => console.log(`[bench:cli] ${line}`);

interface TimedRun {
  /** Wall time, process start to exit. */
  seconds: number;
  /** Date.now() at the start and at the exit, to set beside Temporal's event times. */
  startedAt: number;
  exitedAt: number;
  stdout: string;
  stderr: string;
}

/** One process, start to exit; throws unless it exits 0. */
function runTimed(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout!.on('data', (c) => {
      stdout += c;
      output += c;
    });
    child.stderr!.on('data', (c) => {
      stderr += c;
      output += c;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, startedAt, exitedAt: Date.now(), stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output.slice(-3000)}`));
    });
  });
}

const timedProcess = async (command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) => (await runTimed(command, args, env, cwd)).seconds;

export interface CliBenchOptions {
  runs: number;
  quick: boolean;
  /** bin/dockflow.js of another checkout, to compare; default this one's. */
  cli?: string;
  /** Stack sizes (services) to deploy; default 3, 7, 20 and 50 (3 and 7 with quick). */
  sizes?: number[];
}

/**
 * The section's figures. The worker must be running on bed.taskQueue; the
 * CLI finds Temporal and the queue through the environment, as a user's would.
 */
export async function cliSection(bed: TestBed, docker: Docker, options: CliBenchOptions): Promise<{ figures: CliFigure[]; notes: string[] }> {
  const figures: CliFigure[] = [];
  const notes: string[] = [];
  const cli = options.cli ?? path.join(REPO_ROOT, 'bin', 'dockflow.js');
  if (options.cli) notes.push(`dockflow ran ${options.cli} (another checkout), against this checkout's worker`);
  else notes.push(`dockflow ran ${cliEntry(REPO_ROOT, process.env).compiled ? 'the compiled CLI (dist/, as after npm install)' : 'from the TypeScript sources through tsx (dist/ absent or older than the sources)'}`);
  const cliEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TEMPORAL_ADDRESS: bed.address, TEMPORAL_NAMESPACE: 'default', DOCKFLOW_TASK_QUEUE: bed.taskQueue };
  const dockflow = (args: string[], cwd = REPO_ROOT, env = cliEnv) => timedProcess(process.execPath, [cli, ...args], env, cwd);
  const dockflowRun = (args: string[], cwd: string) => runTimed(process.execPath, [cli, ...args], cliEnv, cwd);

  let psProject: { project: string; dir: string; file: string } | undefined;
  const sizes = (options.quick ? QUICK_SIZES : SIZES).filter(([n]) => !options.sizes || options.sizes.includes(n) || n === 3);
  for (const [n, depth] of sizes) {
    const project = `bench-cli${n}`;
    const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, n, depth) });
    // docker-compose 1.29 predates the top-level name: (-p gives it).
    const anchorFile = path.join(dir, 'anchor-compose.yml');
    fs.writeFileSync(anchorFile, chainStack(project, n, depth).replace(/^name: .*\n/, ''));
    const ours: number[] = [];
    const theirs: number[] = [];
    const beforeStart: number[] = [];
    const afterClose: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      // A run that fails (on a machine loaded enough, 1 s health checks time out) is noted, not fatal.
      try {
        await removeProject(docker, project);
        let started = Date.now();
        // From the project directory, as a user types it: the CLI reads and loads the compose file itself,
        // and follows the deploy's progress (without --json, which skips the progress queries).
        const run1 = await dockflowRun(['deploy', '-f', 'docker-compose.yml'], dir);
        await waitAllHealthy(docker, project, n);
        ours.push((Date.now() - started) / 1000);
        // The workflow's own start and close (the server's clock, this host's) against the process's;
        // the CLI names the workflow on stderr as it starts following it ("deploying (workflow ID)").
        const workflowId = /\(workflow (\S+)\)/.exec(run1.stderr)?.[1];
        if (!workflowId) throw new Error(`dockflow deploy did not name its workflow:\n${run1.stderr.slice(-1000)}`);
        const events = (await bed.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
        beforeStart.push((eventMs(events[0]?.eventTime) - run1.startedAt) / 1000);
        afterClose.push((run1.exitedAt - eventMs(events.at(-1)?.eventTime)) / 1000);
        await removeProject(docker, project);

        started = Date.now();
        sh('docker-compose', ['-p', project, '-f', anchorFile, 'up', '-d', '--no-color'], dir);
        await waitAllHealthy(docker, project, n);
        theirs.push((Date.now() - started) / 1000);
        try {
          sh('docker-compose', ['-p', project, '-f', anchorFile, 'down', '-t', '1'], dir);
        } catch {
          // docker-compose 1.29 sometimes removes the network before the engine let go of every endpoint.
          await removeProject(docker, project);
        }
        log(`deploy ${n} services, depth ${depth}, run ${run + 1}: dockflow CLI ${ours.at(-1)} s, docker-compose ${theirs.at(-1)} s`);
      } catch (err) {
        const message = String((err as Error).message).split('\n').filter((l) => l.startsWith('error:')).at(-1) ?? String(err).slice(0, 300);
        notes.push(`deploy of ${n} services, run ${run + 1}, failed and is left out of the figures: ${message}`);
        log(`deploy ${n} services, run ${run + 1} failed: ${message}`);
        await removeProject(docker, project);
      }
    }
    // The 3-service project is deployed again below for `ps`, even when its runs here failed.
    if (n === 3) psProject = { project, dir, file: anchorFile };
    if (ours.length === 0 || theirs.length === 0) continue;
    const what = `${n} services, depends_on depth ${depth}`;
    figures.push({ section: DEPLOY_SECTION, what, tool: 'docker-compose up -d + wait', values: theirs, unit: 's' });
    figures.push({ section: DEPLOY_SECTION, what, tool: 'dockflow deploy (CLI process)', values: ours, unit: 's', anchorOf: 'docker-compose up -d + wait' });
    figures.push({ section: SPLIT_SECTION, what, tool: 'process start → workflow started (start-up, compose files loaded, connected)', values: beforeStart, unit: 's' });
    figures.push({ section: SPLIT_SECTION, what, tool: 'workflow completed → process exit (final progress query, result)', values: afterClose, unit: 's' });
    if (n !== 3) await removeProject(docker, project);
  }

  // Start-up: `ps` of one deployed project (3 services, Temporal and the worker answering).
  const ps = psProject!;
  await dockflow(['deploy', '-f', 'docker-compose.yml'], ps.dir);
  const startupRuns = Math.max(options.runs, 5);
  const measure = async (what: string, tool: string, run: () => Promise<number>, anchorOf?: string) => {
    const values: number[] = [];
    for (let i = 0; i < startupRuns; i++) values.push(await run());
    figures.push({ section: STARTUP_SECTION, what, tool, values, unit: 's', ...(anchorOf ? { anchorOf } : {}) });
    log(`${what}, ${tool}: ${values.map((v) => v.toFixed(3)).join(' ')} s`);
  };
  await measure('--help', 'docker-compose --help', () => timedProcess('docker-compose', ['--help'], process.env, ps.dir));
  await measure('--help', 'dockflow --help', () => dockflow(['--help']), 'docker-compose --help');
  await measure('--help', 'dockflow --help, TypeScript sources through tsx (a checkout without a build)', () => dockflow(['--help'], REPO_ROOT, { ...cliEnv, DOCKFLOW_FROM_SOURCE: '1' }), 'docker-compose --help');
  await measure('ps of one 3-service project', 'docker-compose ps', () => timedProcess('docker-compose', ['-p', ps.project, '-f', ps.file, 'ps'], process.env, ps.dir));
  await measure('ps of one 3-service project', 'dockflow ps -p', () => dockflow(['ps', '-p', ps.project]), 'docker-compose ps');
  // Every compose project on the host: other users of a shared engine change this one's count.
  const hostProjects = new Set((await docker.listContainers({ all: true, filters: { label: ['com.docker.compose.project'] } })).map((c) => c.Labels['com.docker.compose.project'])).size;
  await measure(`ps of the host (${hostProjects} compose project(s) when measured)`, 'dockflow ps', () => dockflow(['ps']));
  await removeProject(docker, ps.project);
  return { figures, notes };
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Markdown tables: min (best of the runs), median, max and the ratio of medians and of minima to the anchor. */
export function cliTables(figures: CliFigure[]): string[] {
  const lines: string[] = [];
  for (const section of [...new Set(figures.map((f) => f.section))]) {
    lines.push(`### ${section}`, '', '| what | tool | min | median | max | unit | ratio to anchor (median) | ratio to anchor (best) |', '|---|---|---|---|---|---|---|---|');
    for (const f of figures.filter((x) => x.section === section)) {
      const s = stats(f.values);
      const anchor = f.anchorOf ? figures.find((x) => x.section === section && x.what === f.what && x.tool === f.anchorOf) : undefined;
      const ratio = (pick: 'median' | 'min') => (anchor ? `${round(s[pick] / stats(anchor.values)[pick])}×` : '');
      lines.push(`| ${f.what} | ${f.tool} | ${round(s.min)} | ${round(s.median)} | ${round(s.max)} | ${f.unit} | ${ratio('median')} | ${ratio('min')} |`);
    }
    lines.push('');
  }
  return lines;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const runs = quick ? 1 : 3;
  const cli = argv.includes('--cli') ? path.resolve(argv[argv.indexOf('--cli') + 1]) : undefined;
  const sizes = argv.includes('--sizes') ? argv[argv.indexOf('--sizes') + 1].split(',').map(Number) : undefined;
  const begun = beginRun();
  execFileSync('bash', [path.join(__dirname, 'setup.sh')], { stdio: 'inherit' });
  if (!cli && !cliEntry(REPO_ROOT, process.env).compiled) {
    // What `npm install` leaves: the bench measures the CLI users get.
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], { stdio: 'inherit' });
  }
  const bed = await startTestBed('bench-cli');
  const worker = await spawnWorker(bed);
  let result: Awaited<ReturnType<typeof cliSection>>;
  let engine: string;
  try {
    result = await cliSection(bed, bed.docker, { runs, quick, ...(cli ? { cli } : {}), ...(sizes ? { sizes } : {}) });
    engine = (await bed.docker.version()).Version;
  } finally {
    await killHard(worker);
    await bed.teardown();
  }
  const versions = { node: process.version, 'docker-compose': sh('docker-compose', ['version', '--short']).trim(), 'Docker engine': engine };
  const file = writeRaw(begun, { kind: 'cli', ...(cli ? { series: 'other-cli' } : {}), runs, quick, versions, notes: result.notes, figures: result.figures });
  console.log(cliTables(result.figures).join('\n'));
  log(`raw figures written to ${file}; \`npm run bench:report\` puts them in bench/RESULTS.md`);
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
