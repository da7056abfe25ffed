/**
 * bench/RESULTS.md from the raw figures in bench/results/ and the
 * hand-written analysis in bench/ANALYSIS.md (`npm run bench:report`).
 *
 * For every section (a table), the newest full (non-quick) file holding it
 * is shown, with the file's name, commit, runs and load average, so each
 * figure points to its file; the files a newer one replaced are listed at
 * the end. A file can name a `series` (e.g. "other-cli", a comparison run of
 * another checkout): the newest file of each series is shown. Every file is
 * read, none is changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Figure, RawResult } from './raw';
import { RESULTS_DIR } from './raw';

const ANALYSIS_FILE = path.join(__dirname, 'ANALYSIS.md');
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');

export interface LoadedResult extends RawResult {
  file: string;
  series: string;
}

/** Earlier files (the first bench:cli runs) have load averages as text and their kind only in the file name. */
export function normalize(file: string, data: Record<string, unknown>): LoadedResult {
  const base = path.basename(file, '.json');
  const kind = typeof data.kind === 'string' ? data.kind : base.replace(/-\d{4}-\d\d-\d\dT.*$/, '');
  const load = (data.loadAverage ?? {}) as Record<string, unknown>;
  const numbers = (v: unknown) => (Array.isArray(v) ? v.map(Number) : typeof v === 'string' ? v.split(/\s+/).filter(Boolean).map(Number) : []);
  const series = typeof data.series === 'string' ? data.series : base.endsWith('-other-cli') ? 'other-cli' : '';
  const command = typeof data.command === 'string' ? data.command : kind === 'cli' ? `npm run bench:cli${series === 'other-cli' ? ' -- --cli <an earlier checkout>' : ''}` : '?';
  return {
    ...(data as unknown as RawResult),
    kind,
    series,
    command,
    commit: typeof data.commit === 'string' && data.commit ? data.commit : '?',
    started: typeof data.started === 'string' ? data.started : (/\d{4}-\d\d-\d\dT\d\d-\d\dZ/.exec(base)?.[0].replace(/T(\d\d)-(\d\d)Z/, 'T$1:$2:00Z') ?? '?'),
    file: `bench/results/${path.basename(file)}`,
    runs: Number(data.runs ?? 1),
    quick: Boolean(data.quick),
    notes: (data.notes as string[] | undefined) ?? [],
    figures: (data.figures as Figure[] | undefined) ?? [],
    versions: (data.versions as Record<string, string> | undefined) ?? {},
    loadAverage: { start: numbers(load.start ?? load.before), end: numbers(load.end ?? load.after) },
  };
}

export function loadResults(dir = RESULTS_DIR): LoadedResult[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => normalize(path.join(dir, f), JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>))
    .sort((a, b) => a.started.localeCompare(b.started));
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : n);

/** One table: min / median / max of each figure's runs and the ratio of medians to its anchor. */
export function table(figures: Figure[]): string[] {
  const lines = ['| what | tool | runs | min | median | max | unit | ratio to anchor (median) |', '|---|---|---|---|---|---|---|---|'];
  for (const f of figures) {
    const s = stats(f.values);
    const anchor = f.anchorOf ? figures.find((x) => x.what === f.what && x.tool === f.anchorOf) : undefined;
    const ratio = anchor ? `${round(s.median / stats(anchor.values).median)}×${f.lowerIsBetter === false ? ' (higher is better)' : ''}` : '';
    lines.push(`| ${f.what} | ${f.tool} | ${f.values.length} | ${round(s.min)} | ${round(s.median)} | ${round(s.max)} | ${f.unit} | ${ratio} |`);
  }
  const notes = [...new Set(figures.filter((f) => f.note).map((f) => `- ${f.tool}: ${f.note}`))];
  return notes.length ? [...lines, '', ...notes] : lines;
}

const load = (l: number[]) => (l.length ? l.join(' / ') : '?');

/** Where the figures come from, under each table. */
function provenance(r: LoadedResult): string {
  return `From \`${r.file}\`: \`${r.command}\` at ${r.commit}, started ${r.started.slice(0, 16).replace('T', ' ')} UTC, ${r.runs} run(s); load average (1/5/15 min) ${load(r.loadAverage.start)} at the start, ${load(r.loadAverage.end)} at the end${r.machine ? `, ${r.machine.cpus} CPUs` : ''}.`;
}

/** The Markdown of RESULTS.md. */
export function renderResults(results: LoadedResult[], analysis: string): string {
  const full = results.filter((r) => !r.quick);
  // The newest file of each (series, section) is shown; sections keep the order of their first appearance in the newest files.
  const shown = new Map<string, { result: LoadedResult; figures: Figure[] }>();
  for (const r of [...full].reverse()) {
    for (const section of [...new Set(r.figures.map((f) => f.section))]) {
      const key = `${section}\u0000${r.series}`;
      if (!shown.has(key)) shown.set(key, { result: r, figures: r.figures.filter((f) => f.section === section) });
    }
  }
  const order = [...shown.entries()].sort((a, b) => sectionRank(a[0]) - sectionRank(b[0]) || a[1].result.started.localeCompare(b[1].result.started));
  const used = new Set([...shown.values()].map((v) => v.result.file));
  const lines = [
    '<!-- Generated by `npm run bench:report` (bench/report.ts) from bench/results/*.json and bench/ANALYSIS.md: edit those, not this file. -->',
    '# Benchmark results',
    '',
    'Each table below is the newest full run that measured it, with the file its figures come from, the commit, and the load average at the start and the end of that run (the machine has 2 CPUs shared with other users: a run at a high load average is slower for every tool, anchors included). min / median / max are over the runs of that file. The hand-written analysis follows the tables.',
    '',
  ];
  for (const [key, { result, figures }] of order) {
    const [section, series] = key.split('\u0000');
    lines.push(`## ${section}${series ? ` (${series})` : ''}`, '', provenance(result), '', ...table(figures), '');
    const sectionNotes = result.notes.filter((n) => noteBelongsTo(n, section, result));
    if (sectionNotes.length) lines.push(...sectionNotes.map((n) => `- ${n}`), '');
  }
  const older = results.filter((r) => !used.has(r.file));
  if (older.length) {
    lines.push('## Other runs kept in bench/results/', '', 'Quick runs, full runs a newer file replaced, and files without figures in the common format (bench/raw.ts), which the analysis below may cite:', '');
    for (const r of [...older].reverse()) lines.push(`- \`${r.file}\`: ${r.kind}${r.quick ? ' (quick)' : ''}, ${r.started.slice(0, 16).replace('T', ' ')} UTC, ${r.commit}, load ${load(r.loadAverage.start)} → ${load(r.loadAverage.end)}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n${analysis.trim()}\n`;
}

/** Sections in the order a reader wants them: deploys first, then the rest in the bench's order. */
const SECTION_ORDER = ['Deploy: trigger', 'Deploy from the command line', 'Command line start-up', 'History events', 'Where a', 'Rolling', 'Backup', 'Recovery', 'Scale'];
function sectionRank(key: string): number {
  const i = SECTION_ORDER.findIndex((prefix) => key.startsWith(prefix));
  return i < 0 ? SECTION_ORDER.length : i;
}

/** A run's notes go under the tables of that run; a note prefixed "section:" (e.g. "scale: ...") only under the matching section. */
function noteBelongsTo(note: string, section: string, result: LoadedResult): boolean {
  const prefix = /^([a-z-]+): /.exec(note)?.[1];
  const sections = [...new Set(result.figures.map((f) => f.section))];
  if (prefix && ['scale', 'cli', 'rolling', 'backup', 'recovery', 'deploy', 'timeline'].includes(prefix)) return section.toLowerCase().startsWith(prefix === 'cli' ? 'deploy from the command line' : prefix) || (prefix === 'cli' && section.startsWith('Command line'));
  // Unprefixed notes: under the run's first table only, so they are not repeated.
  return sections[0] === section;
}

function main(): void {
  const analysis = fs.existsSync(ANALYSIS_FILE) ? fs.readFileSync(ANALYSIS_FILE, 'utf8') : '';
  const text = renderResults(loadResults(), analysis);
  fs.writeFileSync(RESULTS_FILE, text);
  console.log(`[bench:report] ${path.relative(process.cwd(), RESULTS_FILE)} written from ${loadResults().length} file(s) in bench/results/`);
}

if (require.main === module) main();
