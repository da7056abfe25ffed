/**
 * Step-by-step progress that the `progress` query returns. Times are workflow
 * time, so replays reproduce the same values.
 */
import { setHandler } from '@temporalio/workflow';
import { progressQuery, type Progress, type ProgressStep } from '../src/messages';

export class ProgressTracker {
  private readonly state: Progress;

  constructor(operation: string, project: string) {
    this.state = { operation, project, phase: 'starting', steps: [] };
    setHandler(progressQuery, () => this.state);
  }

  set project(project: string) {
    this.state.project = project;
  }

  phase(phase: string): void {
    this.state.phase = phase;
  }

  /** Run `fn` as a visible step: running while it runs, done or failed after. */
  async step<T>(title: string, fn: () => Promise<T>): Promise<T> {
    const step: ProgressStep = { id: this.state.steps.length + 1, title, state: 'running', startedAt: Date.now() };
    this.state.steps.push(step);
    try {
      const result = await fn();
      step.state = 'done';
      return result;
    } catch (err) {
      step.state = 'failed';
      step.detail = rootMessage(err);
      throw err;
    } finally {
      step.finishedAt = Date.now();
    }
  }
}

/** The innermost cause's message: what the user needs to read. */
export function rootMessage(err: unknown): string {
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && 'cause' in current && (current as { cause?: unknown }).cause) {
    current = (current as { cause: unknown }).cause;
  }
  return current instanceof Error ? current.message : String(current);
}
