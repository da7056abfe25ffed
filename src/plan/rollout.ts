/**
 * Rolling update settings: compose's deploy.update_config (or
 * rollback_config) with command-line overrides on top, and defaults from the
 * compose specification.
 */
import type { UpdateConfigSpec } from '../model/spec';

export interface RolloutSettings {
  /** Containers replaced at once; 0 means all at once. Default 1. */
  parallelism: number;
  /** Pause between batches. Default 0. */
  delayMs: number;
  /** What a failure beyond maxFailureRatio does. Default "pause" (stop and fail, as compose specifies). */
  failureAction: 'continue' | 'rollback' | 'pause';
  /** How long a new container must stay healthy after its health gate. Default 0. */
  monitorMs: number;
  /** Failed fraction tolerated before failureAction applies. Default 0. */
  maxFailureRatio: number;
  /** Default "stop-first", as compose specifies. */
  order: 'stop-first' | 'start-first';
}

export interface RolloutOverrides extends Partial<RolloutSettings> {
  /** Fall back to stop-first for a service that publishes a fixed host port. */
  allowStopFirst?: boolean;
}

export function rolloutSettings(config: UpdateConfigSpec | undefined, overrides: RolloutOverrides = {}): RolloutSettings {
  return {
    parallelism: overrides.parallelism ?? config?.parallelism ?? 1,
    delayMs: overrides.delayMs ?? config?.delayMs ?? 0,
    failureAction: overrides.failureAction ?? config?.failureAction ?? 'pause',
    monitorMs: overrides.monitorMs ?? config?.monitorMs ?? 0,
    maxFailureRatio: overrides.maxFailureRatio ?? config?.maxFailureRatio ?? 0,
    order: overrides.order ?? config?.order ?? 'stop-first',
  };
}

/** Split items into batches of `parallelism` (0 = one batch with everything). */
export function rolloutBatches<T>(items: T[], parallelism: number): T[][] {
  const size = parallelism <= 0 ? items.length : parallelism;
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
