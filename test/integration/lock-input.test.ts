/**
 * The lock workflow started by hand (Temporal UI, tctl), as the fuzzer did:
 * a malformed holder fails at once, non-retryable, naming the input path;
 * before, it ran until someone terminated it, holding whatever lock ID it was
 * given. Real Temporal, real worker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../src/errors';
import { startTestBed, startWorker, type TestBed } from '../support/harness';

describe('projectLock input', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;

  before(async () => {
    bed = await startTestBed('it-lock-input');
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    await stopWorker?.();
    await bed?.teardown();
  });

  it('a malformed holder fails the workflow at once, non-retryable, naming input.project', { timeout: 60_000 }, async () => {
    const handle = await bed.env.client.workflow.start('projectLock', {
      taskQueue: bed.taskQueue,
      workflowId: 'it-lock-input-bad',
      args: [{ project: 5, operation: 'deploy', workflowId: 'x', since: '2026-11-30T12:00:00Z' }],
    });
    const err = await handle.result().then(
      () => assert.fail('a malformed holder must not be accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    assert.equal(err.cause.nonRetryable, true);
    assert.equal(err.cause.type, ErrorType.invalidSpec);
    assert.match(err.cause.message, /^invalid projectLock input:\ninput\.project: /);
  });

  it('a well-formed holder still holds until released', async () => {
    const handle = await bed.env.client.workflow.start('projectLock', {
      taskQueue: bed.taskQueue,
      workflowId: 'it-lock-input-good',
      args: [{ project: 'itlockinput', operation: 'deploy', workflowId: 'holder', since: '2026-11-30T12:00:00Z' }],
    });
    const holder = await handle.query<{ project: string }>('holder');
    assert.equal(holder.project, 'itlockinput');
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    await handle.signal('release');
    assert.deepEqual(await handle.result(), { project: 'itlockinput', operation: 'deploy', workflowId: 'holder', since: '2026-11-30T12:00:00Z' });
  });
});
