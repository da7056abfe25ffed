/**
 * One fuzz run: loader cases in-process (worker threads), a sample through
 * the real CLI process, and workflow inputs through a real worker on a real
 * Temporal dev server. Used by `npm run fuzz` (run.ts) and the bounded run
 * in `npm test` (fuzz.test.ts).
 */
import * as fs from 'node:fs';
import { removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';
import { runCliSample, runLoaderFuzz, type CliCaseResult, type LoaderCaseResult } from './loader-fuzz';
import { runWorkflowFuzz, type WorkflowCaseResult } from './workflow-fuzz';
import { workflowFixtures } from './workflow-cases';

export interface FuzzOptions {
  seed: number;
  loaderRuns: number;
  workflowRuns: number;
  cliSample: number;
  /** Replay one case: `loader` or `workflow`, with its index. */
  only?: { kind: 'loader' | 'workflow'; index: number };
  loaderDeadlineMs?: number;
  workflowDeadlineMs?: number;
  lanes?: number;
  threads?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  prefix: string;
  loader: LoaderCaseResult[];
  cli: CliCaseResult[];
  workflows: WorkflowCaseResult[];
  /** Fuzz-project containers, networks and volumes that exist after the run and did not before. */
  created: string[];
  seconds: { loader: number; cli: number; workflows: number };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  // Every valid project name of the run starts with this; Docker is checked for it.
  const prefix = `fuzz${options.seed}x`;
  const seconds = { loader: 0, cli: 0, workflows: 0 };
  const clock = () => {
    const started = performance.now();
    return () => Math.round((performance.now() - started) / 100) / 10;
  };

  let loader: LoaderCaseResult[] = [];
  let root: string | undefined;
  if (options.only?.kind !== 'workflow' && (options.loaderRuns > 0 || options.only)) {
    const done = clock();
    ({ results: loader, root } = await runLoaderFuzz({
      seed: options.seed,
      runs: options.loaderRuns,
      only: options.only?.index,
      deadlineMs: options.loaderDeadlineMs,
      threads: options.threads,
      log,
    }));
    seconds.loader = done();
    fs.rmSync(root, { recursive: true, force: true });
  }

  const needBed = options.only?.kind === 'workflow' || (!options.only && (options.workflowRuns > 0 || options.cliSample > 0));
  let cli: CliCaseResult[] = [];
  let workflows: WorkflowCaseResult[] = [];
  let created: string[] = [];
  if (needBed) {
    const fixtures = workflowFixtures(prefix);
    // The worker's stacks folder: {"stack": ...} inputs resolve there.
    process.env.DOCKFLOW_STACKS_DIR = fixtures.stacksDir;
    const bed: TestBed = await startTestBed(`${prefix}queue`);
    const stop = await startWorker(bed);
    try {
      if (options.cliSample > 0 && loader.length > 0) {
        const done = clock();
        cli = await runCliSample(options.seed, loader, options.cliSample, { address: bed.address, taskQueue: bed.taskQueue }, log);
        seconds.cli = done();
      }
      if (options.workflowRuns > 0 || options.only?.kind === 'workflow') {
        const done = clock();
        ({ results: workflows, created } = await runWorkflowFuzz({
          seed: options.seed,
          runs: options.workflowRuns,
          only: options.only?.kind === 'workflow' ? options.only.index : undefined,
          bed,
          prefix,
          fixtures,
          deadlineMs: options.workflowDeadlineMs,
          lanes: options.lanes,
          log,
        }));
        seconds.workflows = done();
      }
    } finally {
      await stop();
      await bed.teardown();
      // Whatever a failing case may have created belongs to a fuzz project: remove exactly those.
      for (const object of created) {
        const project = /fuzz\d+x\d+/.exec(object)?.[0];
        if (project) await removeProject(bed.docker, project).catch(() => undefined);
      }
      fs.rmSync(fixtures.stacksDir, { recursive: true, force: true });
    }
  }
  return { seed: options.seed, prefix, loader, cli, workflows, created, seconds };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Counts, durations and every violation with its replay command. */
export function summarize(report: FuzzReport): string {
  const lines: string[] = [];
  const count = <T>(items: T[], key: (t: T) => string) => {
    const out: Record<string, number> = {};
    for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
    return Object.entries(out)
      .sort()
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  };
  const ms = (items: { ms: number }[]) => `median ${percentile(items.map((i) => i.ms), 50)} ms, p99 ${percentile(items.map((i) => i.ms), 99)} ms, max ${Math.max(0, ...items.map((i) => i.ms))} ms`;
  const loaderMs = report.loader.map((r) => ({ ms: r.outcome.ms }));
  lines.push(`seed ${report.seed}, project prefix ${report.prefix}`);
  if (report.loader.length) {
    lines.push(`loader: ${report.loader.length} cases in ${report.seconds.loader} s (${count(report.loader, (r) => r.outcome.kind)}); per case ${ms(loaderMs)}`);
  }
  if (report.cli.length) {
    lines.push(`cli: ${report.cli.length} processes in ${report.seconds.cli} s (exit codes: ${count(report.cli, (r) => String(r.code))}); per process ${ms(report.cli)}`);
  }
  if (report.workflows.length) {
    lines.push(
      `workflows: ${report.workflows.length} cases in ${report.seconds.workflows} s (${count(report.workflows, (r) => r.type)}); ` +
        `invalid ${report.workflows.filter((r) => r.invalid).length} (${count(report.workflows.filter((r) => r.invalid), (r) => r.outcome)}), ` +
        `valid ${report.workflows.filter((r) => !r.invalid).length} (${count(report.workflows.filter((r) => !r.invalid), (r) => r.outcome)})`,
    );
    lines.push(`workflows: invalid input to FAILED ${ms(report.workflows.filter((r) => r.invalid && r.outcome === 'failed'))}`);
    lines.push(`docker objects of fuzz projects created: ${report.created.length}${report.created.length ? ` (${report.created.join(', ')})` : ''}`);
  }
  const violations = [
    ...report.loader.filter((r) => r.violations.length).map((r) => `loader case ${r.index} [--loader --case ${r.index}] (${r.mutations.join('; ')}): ${r.violations.join('; ')}`),
    ...report.cli.filter((r) => r.violations.length).map((r) => `cli case ${r.index} [--loader --case ${r.index}]: ${r.violations.join('; ')}`),
    ...report.workflows.filter((r) => r.violations.length).map((r) => `workflow case ${r.index} [--workflow --case ${r.index}] ${r.type} (${r.mutations.join('; ')}): ${r.violations.join('; ')}`),
  ];
  lines.push(`violations: ${violations.length}`);
  for (const v of violations) lines.push(`  ${v.split('\n')[0].slice(0, 400)}`);
  const notes = report.workflows.filter((r) => r.notes.length);
  if (notes.length) {
    lines.push(`notes: ${notes.length} valid inputs carried a project that is not a project name`);
    for (const r of notes.slice(0, 10)) lines.push(`  workflow case ${r.index} ${r.type}: ${r.notes.join('; ')}`);
  }
  return lines.join('\n');
}

export function violationCount(report: FuzzReport): number {
  return report.loader.filter((r) => r.violations.length).length + report.cli.filter((r) => r.violations.length).length + report.workflows.filter((r) => r.violations.length).length + report.created.length;
}
