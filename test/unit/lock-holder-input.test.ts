/**
 * The lock workflow checks its input without zod (workflows/project-lock.ts, so a
 * held lock does not load zod in the workflow sandbox); it must accept exactly
 * what the schema the fuzzer uses (LockHolderInput) accepts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lockHolderProblems } from '../../workflows/project-lock';
import { LockHolderInput } from '../../workflows/lock';

const good = { project: 'shop', operation: 'deploy', workflowId: 'deploy-shop-1', since: '2026-12-01T00:00:00.000Z' };

const inputs: unknown[] = [
  good,
  { ...good, project: 'a' },
  { ...good, project: 'a'.repeat(200) },
  { ...good, project: 'a'.repeat(201) },
  { ...good, project: 'Shop' },
  { ...good, project: '-shop' },
  { ...good, project: '../etc' },
  { ...good, project: '' },
  { ...good, project: 5 },
  { ...good, project: null },
  { ...good, operation: '' },
  { ...good, workflowId: 7 },
  { ...good, since: '' },
  { ...good, extra: 1 },
  JSON.parse('{"project":"shop","operation":"deploy","workflowId":"w","since":"s","__proto__":{}}'),
  { project: 'shop', operation: 'deploy', workflowId: 'w' },
  {},
  [],
  [good],
  null,
  'shop',
  42,
  undefined,
];

describe('lock holder input', () => {
  it('accepts exactly what LockHolderInput accepts', () => {
    for (const input of inputs) {
      const schemaSays = LockHolderInput.safeParse(input).success;
      const problems = lockHolderProblems(input);
      assert.equal(problems.length === 0, schemaSays, `${JSON.stringify(input)}: schema ${schemaSays ? 'accepts' : 'refuses'}, the lock says ${JSON.stringify(problems)}`);
    }
  });

  it('names the field that is wrong', () => {
    assert.deepEqual(lockHolderProblems(good), []);
    assert.match(lockHolderProblems({ ...good, project: 5 })[0], /^input\.project: expected string, received number$/);
    assert.match(lockHolderProblems({ ...good, project: 'A' })[0], /^input\.project: not a valid project name/);
    assert.match(lockHolderProblems({ ...good, since: '' })[0], /^input\.since: must not be empty$/);
    assert.match(lockHolderProblems({ ...good, extra: 1 })[0], /^input: unrecognized key\(s\): "extra"$/);
  });
});
