/** A bounded chaos run in every test run: fixed seed, a handful of faults. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos, summarize } from './harness';

describe('chaos (bounded)', () => {
  it('every run ends at a recorded revision with exactly the expected containers, whatever was killed', async () => {
    const seed = 4242;
    const results = await runChaos({ seed, runs: 6, log: (l) => console.log(l) });
    console.log(summarize(results, seed));
    assert.equal(results.length, 6);
    assert.ok(results.some((r) => r.fault === 'worker-kill') && results.some((r) => r.fault === 'server-restart'), 'both kinds of fault were injected');
    assert.deepEqual(results.filter((r) => r.violations.length > 0), []);
  });
});
