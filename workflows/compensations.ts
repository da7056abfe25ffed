/**
 * One undo for every operation (saga style): as an operation does something
 * that may have to be undone, it pushes the step that undoes it; when the
 * operation stops (or, for steps that must happen whatever the outcome, when
 * it ends), `run()` runs the steps newest first, inside a scope the
 * workflow's cancellation cannot reach, so a cancelled operation still
 * finishes its undo and never races it.
 *
 * A step that fails is recorded with one shape (its title and the failure's
 * root message) and the next step runs, unless the step says `abort`: then
 * the undo stops there and that failure is thrown (a step whose failure is
 * the operation's own, or one the remaining steps must not run without).
 *
 * Used by deploy and update (failAfterRollback, on one host and across
 * hosts), backup (each host's share and the backup as a whole), restore
 * (runRestore) and migrate (runMigration). The helper issues no command of
 * its own: the steps' activities are exactly those the operation issued
 * before it existed, in the same order.
 */
import { CancellationScope } from '@temporalio/workflow';
import { rootMessage } from '../src/errors';

export interface UndoStep {
  /** What the step undoes, e.g. "start stopped services": the title of its problem when it fails. */
  title: string;
  run: () => Promise<unknown>;
  /** 'collect' (default): a failure is recorded and the undo goes on. 'abort': a failure stops the undo and is thrown. */
  onFailure?: 'collect' | 'abort';
}

/** What went wrong while undoing. */
export interface UndoProblem {
  title: string;
  message: string;
}

/** Runs `fn` where cancellation cannot reach it; a workflow's is CancellationScope.nonCancellable. */
export type Shield = <T>(fn: () => Promise<T>) => Promise<T>;

const nonCancellable: Shield = (fn) => CancellationScope.nonCancellable(fn);

export class Compensations {
  private readonly steps: UndoStep[] = [];
  private readonly failed = new Map<UndoStep, string>();
  /** Every failure recorded while undoing, in the order they happened. */
  readonly problems: UndoProblem[] = [];

  /** `shield` is for tests outside a workflow; workflow code keeps the default. */
  constructor(private readonly shield: Shield = nonCancellable) {}

  /** Register the undo of what was just done (or is about to be); it runs before every step pushed earlier. */
  push(step: UndoStep): UndoStep {
    this.steps.push(step);
    return step;
  }

  /** Steps registered and not yet run. */
  get size(): number {
    return this.steps.length;
  }

  /**
   * Run `fn` now as part of a running step, recording its failure under
   * `title` instead of throwing: for a step that undoes several things, each
   * on its own (every data set a restore touched, every host of a backup).
   */
  async attempt(title: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.problems.push({ title, message: rootMessage(err) });
    }
  }

  /**
   * Run every registered step, newest first, in the shield; each step runs
   * once (the list is empty afterwards). Returns the problems recorded so far.
   */
  async run(): Promise<UndoProblem[]> {
    await this.shield(async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.run();
        } catch (err) {
          if (step.onFailure === 'abort') throw err;
          const message = rootMessage(err);
          this.failed.set(step, message);
          this.problems.push({ title: step.title, message });
        }
      }
    });
    return this.problems;
  }

  /** The root message of `step`'s failure, if it ran and failed (and collected it). */
  failureOf(step: UndoStep): string | undefined {
    return this.failed.get(step);
  }

  /** The problems' messages, in the order they happened. */
  get messages(): string[] {
    return this.problems.map((p) => p.message);
  }
}
