/**
 * bench/RESULTS.md is generated from the raw files in bench/results/
 * (bench/report.ts): each table comes from the newest full run that measured
 * it and names that file, its commit and its load average.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadResults, normalize, renderResults, table } from '../../bench/report';

function run(file: string, data: Record<string, unknown>): [string, Record<string, unknown>] {
  return [file, { runs: 3, quick: false, versions: {}, notes: [], commit: 'abc1234', command: 'npm run bench', loadAverage: { start: [1, 2, 3], end: [4, 5, 6] }, ...data }];
}

function resultsDir(files: [string, Record<string, unknown>][]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
  for (const [name, data] of files) fs.writeFileSync(path.join(dir, name), JSON.stringify(data));
  return dir;
}

describe('bench report', () => {
  it('reads the first bench:cli files (load average as text, kind from the name)', () => {
    const r = normalize('/x/cli-2026-11-30T18-07Z-other-cli.json', { started: '2026-11-30T18:07:00Z', runs: 3, loadAverage: { before: '15 19.27 28.51', after: '12.37 15.45 24.59' }, figures: [] });
    assert.deepEqual([r.kind, r.series, r.loadAverage, r.file], ['cli', 'other-cli', { start: [15, 19.27, 28.51], end: [12.37, 15.45, 24.59] }, 'bench/results/cli-2026-11-30T18-07Z-other-cli.json']);
  });

  it('shows each section from the newest full run that has it, names the file, and lists the replaced and quick runs', () => {
    const fig = (section: string, tool: string, values: number[], anchorOf?: string) => ({ section, what: '3 services', tool, values, unit: 's', ...(anchorOf ? { anchorOf } : {}) });
    const dir = resultsDir([
      run('bench-old.json', { kind: 'bench', started: '2026-11-29T10:00:00Z', figures: [fig('Deploy: trigger to all healthy', 'compose', [2, 2, 2]), fig('Deploy: trigger to all healthy', 'dockflow', [9, 9, 9], 'compose'), fig('Backup and restore throughput', 'dockflow', [5])] }),
      run('scale-new.json', { kind: 'scale', started: '2026-11-30T10:00:00Z', figures: [fig('Deploy: trigger to all healthy', 'compose', [2, 4, 3]), fig('Deploy: trigger to all healthy', 'dockflow', [1, 3, 2], 'compose')] }),
      run('scale-quick.json', { kind: 'scale', started: '2026-11-30T11:00:00Z', quick: true, figures: [fig('Deploy: trigger to all healthy', 'dockflow', [100])] }),
    ]);
    const text = renderResults(loadResults(dir), '# Reading the figures\n\nprose kept');
    const deploy = text.slice(text.indexOf('## Deploy'), text.indexOf('## Backup'));
    assert.match(deploy, /From `bench\/results\/scale-new\.json`: `npm run bench` at abc1234, started 2026-11-30 10:00 UTC, 3 run\(s\); load average \(1\/5\/15 min\) 1 \/ 2 \/ 3 at the start, 4 \/ 5 \/ 6 at the end/);
    assert.match(deploy, /\| 3 services \| dockflow \| 3 \| 1 \| 2 \| 3 \| s \| 0\.67× \|/);
    assert.doesNotMatch(deploy, /\| 9 \|/);
    assert.match(text.slice(text.indexOf('## Backup')), /From `bench\/results\/bench-old\.json`/);
    assert.match(text, /## Other runs kept in bench\/results\/[\s\S]*`bench\/results\/scale-quick\.json`: scale \(quick\)/);
    assert.ok(text.trimEnd().endsWith('prose kept'));
  });

  it('says which way is better when higher is', () => {
    const lines = table([
      { section: 'B', what: 'backup', tool: 'tar', values: [50], unit: 'MB/s', lowerIsBetter: false },
      { section: 'B', what: 'backup', tool: 'dockflow', values: [40], unit: 'MB/s', lowerIsBetter: false, anchorOf: 'tar' },
    ]);
    assert.equal(lines.at(-1), '| backup | dockflow | 1 | 40 | 40 | 40 | MB/s | 0.8× (higher is better) |');
  });
});
