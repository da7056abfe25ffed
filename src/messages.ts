/**
 * Queries shared by workflows and clients. Defined once so the CLI and the
 * workflow can never disagree on a name or a shape.
 */
import type { QueryDefinition } from '@temporalio/common';

export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface ProgressStep {
  id: number;
  title: string;
  state: StepState;
  /** The service and container the step acts on, when it acts on one. */
  service?: string;
  container?: string;
  /** Workflow time in ms since the epoch. */
  startedAt?: number;
  finishedAt?: number;
  detail?: string;
}

export interface Progress {
  operation: string;
  project: string;
  phase: string;
  steps: ProgressStep[];
}

/**
 * What `defineQuery<Progress>('progress')` returns, written out: importing
 * @temporalio/workflow for it cost every CLI command that follows an
 * operation about 0.2 s of module loading. The SDK reads only `type` and
 * `name`; the cast supplies its compile-time-only type brands.
 */
export const progressQuery = { type: 'query', name: 'progress' } as QueryDefinition<Progress>;

/** A registered host's registration (workflows/host-registry.ts); written out like progressQuery. */
export const hostRegistrationQuery = { type: 'query', name: 'registration' } as QueryDefinition<import('./model/hosts').HostRegistration>;

/**
 * A result that carries its operation's last progress (deploy's, since issue
 * 17). A follower prints its last lines from it instead of asking a closed
 * workflow, which a worker answers only by replaying the whole history
 * (0.3 to 1 s). Clients take it out before they show the result, so what
 * they print is the same with or without it.
 */
export interface WithFinalProgress {
  finalProgress?: Progress;
}

/** The result without its finalProgress, and that progress (undefined: the result had none, ask the query). */
export function splitFinalProgress<R>(result: R): { result: R; progress?: Progress } {
  if (typeof result !== 'object' || result === null || Array.isArray(result) || !('finalProgress' in result)) return { result };
  const { finalProgress, ...rest } = result as R & WithFinalProgress;
  return { result: rest as R, ...(finalProgress ? { progress: finalProgress } : {}) };
}
