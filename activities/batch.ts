/**
 * Several container steps as one activity: the containers of one dependency
 * level are created and started together, and the waits a workflow needs at
 * the same moment run together, so a deploy costs one activity (three history
 * events and one workflow task) per level instead of one per container.
 *
 * Only idempotent steps are batched (convergeContainer, waitHealthy,
 * waitCompleted): a retried batch runs every step again, and the steps that
 * had finished find their work done. A step that failed for good (a
 * non-retryable failure) does not fail its neighbours: its outcome says so and
 * the workflow fails that step alone. A retryable failure fails the whole
 * attempt, after every step of it settled, so Temporal retries the batch.
 */
import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_TYPES } from '../src/errors';
import type { ContainerRef, ConvergeInput, WaitInput } from './docker';

/** One step's result in a batch: its value, or the failure that no retry can change. */
export type BatchOutcome<T> = { ok: true; value: T } | { ok: false; message: string; type?: string };

/** A container to converge; with waitHealthyMs, also waited for until healthy within that budget. */
export interface BatchConvergeInput extends ConvergeInput {
  waitHealthyMs?: number;
}

export interface BatchWaitInput extends WaitInput {
  kind: 'healthy' | 'completed';
}

export interface BatchedSteps {
  convergeContainer(input: ConvergeInput): Promise<ContainerRef>;
  waitHealthy(input: WaitInput): Promise<void>;
  waitCompleted(input: WaitInput): Promise<void>;
}

/** A failure that retrying the same step cannot change. */
export function isFinalFailure(err: unknown): err is ApplicationFailure {
  return err instanceof ApplicationFailure && (err.nonRetryable || (err.type !== undefined && err.type !== null && NON_RETRYABLE_TYPES.includes(err.type as never)));
}

/** Run every step; the batch fails (retryably) only for a step that may still succeed. */
export async function settleBatch<I, T>(inputs: I[], step: (input: I) => Promise<T>): Promise<BatchOutcome<T>[]> {
  const results = await Promise.allSettled(inputs.map((input) => step(input)));
  const retryable = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isFinalFailure(r.reason));
  if (retryable) throw retryable.reason;
  return results.map((r) =>
    r.status === 'fulfilled'
      ? { ok: true as const, value: r.value }
      : { ok: false as const, message: (r.reason as ApplicationFailure).message, ...((r.reason as ApplicationFailure).type ? { type: (r.reason as ApplicationFailure).type! } : {}) },
  );
}

export function createBatchActivities(steps: BatchedSteps) {
  return {
    /**
     * convergeContainer for each input, all at once, each followed by its
     * health wait when it asks for one (a service nothing else waits on).
     */
    async convergeContainers(inputs: BatchConvergeInput[]): Promise<BatchOutcome<ContainerRef>[]> {
      return settleBatch(inputs, async ({ waitHealthyMs, ...input }) => {
        const container = await steps.convergeContainer(input);
        if (waitHealthyMs !== undefined) await steps.waitHealthy({ service: input.service, name: container.name, budgetMs: waitHealthyMs });
        return container;
      });
    },

    /** waitHealthy or waitCompleted for each input, all at once; each keeps its own budget. */
    async waitContainers(inputs: BatchWaitInput[]): Promise<BatchOutcome<void>[]> {
      return settleBatch(inputs, ({ kind, ...input }) => (kind === 'healthy' ? steps.waitHealthy(input) : steps.waitCompleted(input)));
    },
  };
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
