/**
 * Container steps batched into one activity (activities/batch.ts): a step
 * that failed for good fails alone, a step that may still succeed fails the
 * attempt (so Temporal retries the batch), and nothing is left running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { settleBatch } from '../../activities/batch';
import { ErrorType } from '../../src/errors';

describe('batched container steps', () => {
  it('a non-retryable failure is that step\'s outcome; its neighbours succeed', async () => {
    const outcomes = await settleBatch(['a', 'b', 'c'], async (name) => {
      if (name === 'b') throw ApplicationFailure.nonRetryable('service b: container b is unhealthy', ErrorType.unhealthy);
      return name.toUpperCase();
    });
    assert.deepEqual(outcomes, [
      { ok: true, value: 'A' },
      { ok: false, message: 'service b: container b is unhealthy', type: ErrorType.unhealthy },
      { ok: true, value: 'C' },
    ]);
  });

  it('a failure of a non-retryable type counts as final even when not flagged so', async () => {
    const outcomes = await settleBatch(['a'], async () => {
      throw ApplicationFailure.retryable('port taken', ErrorType.portAllocated);
    });
    assert.deepEqual(outcomes, [{ ok: false, message: 'port taken', type: ErrorType.portAllocated }]);
  });

  it('a retryable failure fails the attempt, after every other step settled', async () => {
    const finished: string[] = [];
    const hiccup = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await assert.rejects(
      settleBatch(['slow', 'broken'], async (name) => {
        if (name === 'broken') throw hiccup;
        await new Promise((r) => setTimeout(r, 30));
        finished.push(name);
      }),
      (err) => err === hiccup,
    );
    assert.deepEqual(finished, ['slow']);
  });
});
