/**
 * The loader half of the fuzzer: mutated compose projects through
 * `loadStack` (in worker threads, a deadline per case), and a sample of them
 * through the real `dockflow deploy --dry-run` process.
 *
 * What must hold for every case:
 * - the loader returns a spec or throws its own ComposeError, never anything
 *   else (TypeError, RangeError, a stack overflow, a yaml library error);
 * - a ComposeError names the file and the key path (or line) it is about, or
 *   the option it came from; "the loader produced an invalid spec" is a loader bug;
 * - no case takes longer than the deadline (a hang, or a runaway read);
 * - the CLI exits 2 with the loader's message for a bad project, 0 for a good
 *   one (its dry run goes to a real worker), never 1 with a stack trace or by
 *   a signal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { composeCase, type ComposeCase } from './compose-cases';
import { writeCase, type LoaderOutcome } from './loader-thread';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const THREAD_ENTRY = path.join(__dirname, 'loader-thread.ts');

export interface LoaderCaseResult {
  index: number;
  baseline: string;
  mutations: string[];
  outcome: LoaderOutcome | { kind: 'hang'; ms: number };
  violations: string[];
}

/** Reasons a ComposeError may give without a key path or line: they are about a whole file. */
const WHOLE_FILE_REASONS = /^(empty compose file|cannot read the file|env file .* not found|line \d+:|invalid YAML: )/;
/** Reasons that name the option or variable they came from instead of a file. */
const OPTION_REASONS = /the -p option|COMPOSE_PROJECT_NAME|COMPOSE_FILE|--profile|COMPOSE_PROFILES/;

export function judgeLoader(outcome: LoaderCaseResult['outcome'], deadlineMs: number): string[] {
  switch (outcome.kind) {
    case 'hang':
      return [`no answer within ${deadlineMs} ms (hang or runaway read)`];
    case 'crash':
      return [`crash: ${outcome.name}: ${outcome.message.slice(0, 300)}\n${outcome.stack}`];
    case 'compose-error': {
      const out: string[] = [];
      if (/the loader produced an invalid spec/.test(outcome.reason)) out.push(`loader bug: ${outcome.message.slice(0, 300)}`);
      if (!outcome.file && !OPTION_REASONS.test(outcome.reason)) out.push(`error names no file: ${outcome.message.slice(0, 300)}`);
      else if (outcome.file && !outcome.path && outcome.line === undefined && !WHOLE_FILE_REASONS.test(outcome.reason)) {
        out.push(`error names no key path or line: ${outcome.message.slice(0, 300)}`);
      }
      return out;
    }
    default:
      return [];
  }
}

export interface LoaderFuzzOptions {
  seed: number;
  runs: number;
  /** Only this case (a replay). */
  only?: number;
  deadlineMs?: number;
  threads?: number;
  log?: (line: string) => void;
}

/**
 * A worker thread that runs TypeScript: tsx's require hook, then the case
 * runner. Its stack is the size of a main thread's (about 1 MB), so deep
 * nesting overflows where it would in the CLI process. It answers "ready"
 * once the loader's modules are compiled, so no case pays for that.
 */
async function startThread(): Promise<Worker> {
  const thread = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_ENTRY)});`, { eval: true, stdout: true, stderr: true, resourceLimits: { stackSizeMb: 1 } });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('a loader thread did not start within 120 s')), 120_000);
    thread.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    thread.once('error', reject);
  });
  thread.removeAllListeners('error');
  return thread;
}

export async function runLoaderFuzz(options: LoaderFuzzOptions): Promise<{ results: LoaderCaseResult[]; root: string }> {
  const deadlineMs = options.deadlineMs ?? 5000;
  const log = options.log ?? (() => undefined);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `dockflow-fuzz-${options.seed}-`));
  const indexes = options.only !== undefined ? [options.only] : Array.from({ length: options.runs }, (_, i) => i);
  const queue = [...indexes];
  const results: LoaderCaseResult[] = [];

  const runOne = (thread: Worker, c: ComposeCase): Promise<{ outcome: LoaderCaseResult['outcome']; alive: boolean }> =>
    new Promise((resolve) => {
      const started = performance.now();
      const done = (outcome: LoaderCaseResult['outcome'], alive: boolean) => {
        clearTimeout(timer);
        thread.removeAllListeners('message');
        thread.removeAllListeners('error');
        resolve({ outcome, alive });
      };
      const timer = setTimeout(() => {
        // The case may be stuck in a loop or a read that never ends: only stopping the thread ends it.
        void thread.terminate();
        done({ kind: 'hang', ms: Math.round(performance.now() - started) }, false);
      }, deadlineMs);
      thread.once('message', (outcome: LoaderOutcome) => done(outcome, true));
      thread.once('error', (err) => {
        void thread.terminate();
        done({ kind: 'crash', name: err.name, message: `the thread died: ${err.message}`, stack: err.stack ?? '', ms: Math.round(performance.now() - started) }, false);
      });
      thread.postMessage({ root, case: c });
    });

  const lane = async () => {
    let thread = await startThread();
    try {
      await runLane(() => thread, (next) => (thread = next));
    } finally {
      // A live thread would keep the process running after a failure.
      await thread.terminate();
    }
  };
  const runLane = async (current: () => Worker, replace: (next: Worker) => void) => {
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const c = composeCase(options.seed, index);
      const { outcome, alive } = await runOne(current(), c);
      if (!alive) replace(await startThread());
      const violations = judgeLoader(outcome, deadlineMs);
      results.push({ index, baseline: c.baseline, mutations: c.mutations, outcome, violations });
      if (violations.length > 0) log(`loader case ${index} (${c.baseline}: ${c.mutations.join('; ')}): ${violations.join('; ')}`);
      if (results.length % 200 === 0) log(`loader: ${results.length}/${indexes.length} cases`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.threads ?? 2, indexes.length) }, lane));
  results.sort((a, b) => a.index - b.index);
  return { results, root };
}

export interface CliCaseResult {
  index: number;
  expected: LoaderOutcome['kind'];
  code: number | null;
  signal: string | null;
  ms: number;
  violations: string[];
}

export interface CliTarget {
  /** Temporal frontend of a running test bed; without one only bad projects are sampled (their CLI run ends before any connection). */
  address?: string;
  taskQueue?: string;
}

/**
 * `dockflow deploy --dry-run -f ...` as a user runs it, on `count` cases
 * spread over the run, in a fresh copy of each case's directory.
 */
export async function runCliSample(seed: number, results: LoaderCaseResult[], count: number, target: CliTarget, log: (line: string) => void = () => undefined): Promise<CliCaseResult[]> {
  const eligible = results.filter((r) => r.outcome.kind === 'compose-error' || (r.outcome.kind === 'ok' && target.address));
  const step = Math.max(1, Math.floor(eligible.length / Math.max(1, count)));
  const picked = eligible.filter((_, i) => i % step === 0).slice(0, count);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `dockflow-fuzz-cli-${seed}-`));
  const out: CliCaseResult[] = [];
  for (const r of picked) {
    const c = composeCase(seed, r.index);
    const { dir, files } = writeCase(root, c);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('COMPOSE_')) env[k] = v;
    Object.assign(env, c.environment, { NO_COLOR: '1' });
    if (target.address) env.TEMPORAL_ADDRESS = target.address;
    if (target.taskQueue) env.DOCKFLOW_TASK_QUEUE = target.taskQueue;
    const args = [path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'deploy', '--dry-run', ...files.flatMap((f) => ['-f', f]), ...(c.profiles ?? []).flatMap((p) => ['--profile', p])];
    const started = performance.now();
    const run = await new Promise<{ code: number | null; signal: string | null; stderr: string; timedOut: boolean }>((resolve) => {
      const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, 120_000);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stderr, timedOut });
      });
    });
    const ms = Math.round(performance.now() - started);
    const violations: string[] = [];
    const expected = r.outcome.kind as LoaderOutcome['kind'];
    if (run.timedOut) violations.push('the CLI did not exit within 120 s');
    else if (run.signal) violations.push(`the CLI was ended by ${run.signal}`);
    else if (/^\s+at .+:\d+:\d+\)?$/m.test(run.stderr)) violations.push(`the CLI printed a stack trace (exit ${run.code}): ${run.stderr.slice(0, 500)}`);
    else if (expected === 'compose-error') {
      // The case's directory differs between the in-process run and the CLI's copy.
      const placeless = (text: string) => text.replace(/\/[^\s:]*\/fuzzload\d+/g, '<dir>');
      const message = placeless((r.outcome as { message: string }).message.split('\n')[0]);
      if (run.code !== 2) violations.push(`a bad project must exit 2, got ${run.code}: ${run.stderr.slice(0, 300)}`);
      else if (!placeless(run.stderr).includes(message)) violations.push(`the CLI's error differs from the loader's: ${run.stderr.slice(0, 300)} vs ${message.slice(0, 300)}`);
    } else if (run.code !== 0) {
      // A valid project's dry run can still be refused by the worker (its policy): exit 1 with a message, never a crash.
      if (run.code !== 1 || !/^error: /m.test(run.stderr)) violations.push(`a valid project's dry run exited ${run.code}: ${run.stderr.slice(0, 300)}`);
    }
    if (violations.length > 0) log(`cli case ${r.index}: ${violations.join('; ')}`);
    out.push({ index: r.index, expected, code: run.code, signal: run.signal, ms, violations });
  }
  fs.rmSync(root, { recursive: true, force: true });
  return out;
}
