/**
 * Fewer round trips between the workflow and its workers (issue 17: history
 * events per service). Two means, both behind one patch so that histories
 * recorded before replay through the old commands:
 *
 * - Short steps on the workflow's own host (policy check, images, observe,
 *   networks, the ledger, the final verification) run as local activities:
 *   one marker event each, inside the workflow task that asked for them,
 *   instead of three events and a workflow task of their own. Only on the
 *   workflow's own task queue (a single-host operation): another host's steps
 *   must run on that host's worker.
 * - Container steps asked for at the same moment (the containers of one
 *   dependency level, the final health waits) go to the worker as one
 *   activity (activities/batch.ts).
 */
import { ApplicationFailure, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BatchOutcome } from '../activities/batch';
import { NON_RETRYABLE_TYPES } from '../src/errors';
import { isPatched } from './patches';

/** patched() ID of local activities and batched container steps (docs/workflow-changes.md). */
export const FEWER_ROUND_TRIPS_PATCH = 'dockflow-fewer-round-trips';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_TYPES };

/** The same activities as apply.ts's proxies with the same bounds and attempts, run as local activities. */
export const quick = {
  docker: proxyLocalActivities<Activities>({ startToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 10 } }),
  images: proxyLocalActivities<Activities>({ startToCloseTimeout: '60m', retry: { ...retry, maximumAttempts: 3 } }),
  host: proxyLocalActivities<Activities>({ startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } }),
};

/** True in runs started after the change; false when replaying a history recorded before it. */
export function fewerRoundTrips(): boolean {
  return isPatched(FEWER_ROUND_TRIPS_PATCH);
}

/**
 * Collects the items asked for in the same workflow activation and sends
 * them as one batch. Deterministic: which callers share a batch depends only
 * on the order in which the workflow's promises settle, which replay
 * reproduces. Each caller gets its own item's result or failure.
 */
export class Batcher<I, T> {
  private waiting: { input: I; resolve: (value: T) => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly send: (inputs: I[]) => Promise<BatchOutcome<T>[]>) {}

  add(input: I): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      if (this.waiting.length === 1) void this.flushSoon();
    });
  }

  private async flushSoon(): Promise<void> {
    // Callers woken by the same event (a dependency that became healthy) reach
    // add() a few promise hops apart: let them all arrive first.
    for (let hop = 0; hop < 20; hop++) await Promise.resolve();
    const batch = this.waiting;
    this.waiting = [];
    try {
      const outcomes = await this.send(batch.map((b) => b.input));
      batch.forEach((b, i) => {
        const outcome = outcomes[i];
        if (outcome.ok) b.resolve(outcome.value);
        else b.reject(ApplicationFailure.create({ message: outcome.message, type: outcome.type, nonRetryable: true }));
      });
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
