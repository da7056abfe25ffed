/**
 * A bounded chaos run in every test run: a fixed seed, 15 fault points (the
 * three kinds take turns) over deploys, rollbacks, backups, restores and
 * migrations; then 4 restores with a fault inside the archive's stream
 * (worker kill, archive cut short, helper removed, Temporal restart).
 * `npm run chaos` is the full, longer run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAULT_KINDS, runChaos, summarize } from './harness';
import { RESTORE_FAULTS, runRestoreChaos, summarizeRestores } from './restore-chaos';

const SEED = Number(process.env.DOCKFLOW_CHAOS_SEED ?? 3);
const RUNS = 15;
const RESTORE_RUNS = RESTORE_FAULTS.length;

describe('chaos (bounded)', () => {
  it('every run ends with the host at a recorded revision, data consistent, nothing left half-done, whatever was killed or restarted', async () => {
    const results = await runChaos({ seed: SEED, runs: RUNS, log: (l) => console.log(l) });
    console.log(summarize(results, SEED));
    assert.equal(results.length, RUNS);
    for (const kind of FAULT_KINDS) assert.ok(results.some((r) => r.fault === kind), `a ${kind} was injected`);
    assert.ok(new Set(results.map((r) => r.operation)).size >= 4, `at least four kinds of operation ran: ${[...new Set(results.map((r) => r.operation))].join(', ')}`);
    // Each failing run with its outcome and diagnostics, so a CI log alone says what happened.
    // A run with violations is followed by a redeploy, so later runs are judged on their own.
    assert.deepEqual(
      results
        .filter((r) => r.violations.length > 0)
        .map(
          (r) =>
            `run ${r.run} (${r.operation} → ${r.outcome}${r.failure ? `: ${r.failure.slice(0, 300)}` : ''}; ${r.fault} at ${r.faultAtMs} ms; ` +
            `${r.repaired ? 'the redeploy after it put the host right' : 'the host was STILL wrong after a redeploy'}): ${r.violations.join('; ')}\n${r.diagnostics.join('\n')}`,
        ),
      [],
    );
  });

  it('a restore hit mid-stream leaves every data set with exactly its old or exactly its restored contents', async () => {
    const results = await runRestoreChaos({ seed: SEED, runs: RESTORE_RUNS, backups: 1, bigMiB: 16, log: (l) => console.log(l) });
    console.log(summarizeRestores(results, SEED));
    assert.equal(results.length, RESTORE_RUNS);
    assert.ok(results.filter((r) => r.midStream).length >= RESTORE_RUNS - 1, `faults landed mid-stream: ${results.map((r) => `${r.fault} ${r.midStream}`).join(', ')}`);
    assert.deepEqual(
      results.filter((r) => r.violations.length > 0).map((r) => `restore run ${r.run} (${r.fault}): ${r.violations.join('; ')}`),
      [],
    );
  });
});
