import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { causeChain, firstFailureType, rootMessage } from '../../src/errors';

describe('one cause-walker', () => {
  const inner = ApplicationFailure.nonRetryable('container web-1 is unhealthy', 'ServiceUnhealthy');
  const wrapped = new ActivityFailure('activity failed', 'waitHealthy', '7', RetryState.NON_RETRYABLE_FAILURE, 'worker', inner);

  it('walks outermost first and stops at a cycle', () => {
    assert.deepEqual(causeChain(wrapped), [wrapped, inner]);
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b') as Error & { cause?: unknown };
    a.cause = b;
    b.cause = a;
    assert.deepEqual(causeChain(a), [a, b]);
  });

  it('reads the innermost non-empty message and the first type', () => {
    assert.equal(rootMessage(wrapped), 'container web-1 is unhealthy');
    assert.equal(rootMessage(new Error('outer', { cause: new Error('') })), 'outer');
    assert.equal(rootMessage('plain'), 'plain');
    assert.equal(firstFailureType(wrapped), 'ServiceUnhealthy');
    assert.equal(firstFailureType(new Error('untyped')), undefined);
  });
});
