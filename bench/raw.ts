/**
 * Raw figures of a bench run, one JSON file per run under bench/results/:
 * what ran (command, commit, runs), on what (CPUs, versions), how busy the
 * machine was (load average at the start and at the end), and every figure
 * with all its runs' values. `npm run bench:report` builds bench/RESULTS.md
 * from these files only (bench/report.ts), so each figure there points to one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

/** One measured quantity: every run's value, so min, median and max can be recomputed. */
export interface Figure {
  /** The table it belongs to. */
  section: string;
  what: string;
  tool: string;
  values: number[];
  unit: string;
  /** Lower is better unless false. */
  lowerIsBetter?: boolean;
  /** The tool (same section and what) this figure is compared with. */
  anchorOf?: string;
  note?: string;
}

/** What one file of bench/results/ holds. */
export interface RawResult {
  /** Which bench wrote it: bench (run.ts), cli, scale, timeline, backup-phases, ... */
  kind: string;
  /** A comparison kept beside the main figures (e.g. "other-cli", "before"); the report shows the newest file of each series. */
  series?: string;
  started: string;
  finished: string;
  command: string;
  commit: string;
  runs: number;
  quick: boolean;
  /** 1, 5 and 15 minute load averages. */
  loadAverage: { start: number[]; end: number[] };
  machine: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string };
  versions: Record<string, string>;
  notes: string[];
  figures: Figure[];
  /** Anything else the bench wants kept (per-run details, samples). */
  details?: unknown;
}

export const RESULTS_DIR = path.join(__dirname, 'results');

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The checked-out commit, "+changes" when tracked files differ from it. */
function currentCommit(): string {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: __dirname, encoding: 'utf8' }).stdout.trim() !== '';
  return `${commit}${dirty ? '+changes' : ''}`;
}

/** Call at the start of a run: the start time, load average and commit (the code that runs), for writeRaw. */
export function beginRun(): { started: Date; loadStart: number[]; commit: string } {
  return { started: new Date(), loadStart: os.loadavg().map(round2), commit: currentCommit() };
}

/** Writes the run's file and returns its path (relative to the repository). */
export function writeRaw(
  begun: { started: Date; loadStart: number[]; commit: string },
  result: Omit<RawResult, 'started' | 'finished' | 'loadAverage' | 'machine' | 'commit' | 'command'> & { command?: string },
): string {
  const raw: RawResult = {
    kind: result.kind,
    ...(result.series ? { series: result.series } : {}),
    started: begun.started.toISOString(),
    finished: new Date().toISOString(),
    command: result.command ?? `tsx ${path.relative(path.join(__dirname, '..'), process.argv[1] ?? '')} ${process.argv.slice(2).join(' ')}`.trim(),
    commit: begun.commit,
    runs: result.runs,
    quick: result.quick,
    loadAverage: { start: begun.loadStart, end: os.loadavg().map(round2) },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memoryGiB: round2(os.totalmem() / 2 ** 30), kernel: `${os.type()} ${os.release()}` },
    versions: result.versions,
    notes: result.notes,
    figures: result.figures,
    ...(result.details !== undefined ? { details: result.details } : {}),
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = begun.started.toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(':', '-');
  const file = path.join(RESULTS_DIR, `${raw.kind}-${stamp}${raw.series ? `-${raw.series.replace(/[^a-z0-9]+/gi, '-')}` : ''}${raw.quick ? '-quick' : ''}.json`);
  fs.writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`);
  return path.relative(path.join(__dirname, '..'), file);
}
