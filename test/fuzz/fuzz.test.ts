/**
 * A bounded fuzz run in every test run: a fixed seed, 200 loader cases
 * (5 of them through the real CLI process) and 100 workflow inputs through
 * a real worker on a real Temporal dev server. `npm run fuzz` is the full run
 * (test/fuzz/RESULTS.md); a violation prints the command that replays it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz, summarize } from './harness';
import { WORKFLOW_TYPES } from './workflow-cases';

const SEED = Number(process.env.DOCKFLOW_FUZZ_SEED ?? 20261130);

describe('fuzz (bounded)', () => {
  it('mutated compose files and workflow inputs: no crash, no hang, every error names its place, bad input fails non-retryable, nothing created', async () => {
    const report = await runFuzz({ seed: SEED, loaderRuns: 200, workflowRuns: 100, cliSample: 5, log: (l) => console.log(l.split('\n')[0]) });
    console.log(summarize(report));
    assert.equal(report.loader.length, 200);
    assert.equal(report.cli.length, 5);
    assert.equal(report.workflows.length, 100);
    // The run exercised what it claims to: both outcomes of the loader, and most workflow types with bad and good input.
    assert.ok(report.loader.some((r) => r.outcome.kind === 'ok') && report.loader.some((r) => r.outcome.kind === 'compose-error'));
    assert.ok(new Set(report.workflows.map((r) => r.type)).size >= WORKFLOW_TYPES.length - 2, 'most workflow types were fuzzed');
    assert.ok(report.workflows.some((r) => r.invalid) && report.workflows.some((r) => !r.invalid));
    assert.deepEqual(report.loader.filter((r) => r.violations.length).map((r) => `loader case ${r.index}: ${r.violations.join('; ')}`), []);
    assert.deepEqual(report.cli.filter((r) => r.violations.length).map((r) => `cli case ${r.index}: ${r.violations.join('; ')}`), []);
    assert.deepEqual(report.workflows.filter((r) => r.violations.length).map((r) => `workflow case ${r.index} (${r.type}): ${r.violations.join('; ')}`), []);
    assert.deepEqual(report.created, [], 'no container, network or volume of a fuzz project');
  });
});
