/**
 * Step-by-step progress that the `progress` query returns. Times are workflow
 * time, so replays reproduce the same values.
 */
import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { progressQuery, type Progress, type ProgressStep } from '../src/messages';
import { OPERATION_ATTRIBUTE, PROJECT_ATTRIBUTE } from '../src/temporal/search-attributes';
import { rootMessage } from '../src/errors';
import { isPatched, oneMarkerRun } from './patches';

/**
 * Operations started before search attributes existed have no upsert in
 * their history; the patch marker keeps their replay deterministic.
 */
const SEARCH_ATTRIBUTES_PATCH = 'dockflow-search-attributes';

/** What a step acts on, for watchers that group or filter steps. */
export interface StepTarget {
  service?: string;
  container?: string;
}

export class ProgressTracker {
  private readonly state: Progress;
  /** Announced steps not started yet, by the key their `step` call will give. */
  private readonly pending = new Map<string, ProgressStep>();

  constructor(operation: string, project: string) {
    this.state = { operation, project, phase: 'starting', steps: [] };
    setHandler(progressQuery, () => this.state);
    if (isPatched(SEARCH_ATTRIBUTES_PATCH)) {
      upsertSearchAttributes([{ key: OPERATION_ATTRIBUTE, value: operation }, ...(project ? [{ key: PROJECT_ATTRIBUTE, value: project }] : [])]);
    }
    setCurrentDetails(this.details());
  }

  /** The project is often known only after the input was read (compose files loaded on the worker). */
  set project(project: string) {
    if (project === this.state.project) return;
    this.state.project = project;
    if (project && isPatched(SEARCH_ATTRIBUTES_PATCH)) upsertSearchAttributes([{ key: PROJECT_ATTRIBUTE, value: project }]);
    setCurrentDetails(this.details());
  }

  /** The progress as the query answers it now (deploy returns it as its result's finalProgress). */
  get current(): Progress {
    return this.state;
  }

  phase(phase: string): void {
    this.state.phase = phase;
    setCurrentDetails(this.details());
  }

  /** What the Temporal UI shows as the workflow's current details (markdown). */
  private details(): string {
    const running = this.state.steps.filter((s) => s.state === 'running').map((s) => s.title);
    const done = this.state.steps.filter((s) => s.state === 'done').length;
    return [
      `**${this.state.operation}**${this.state.project ? ` of project **${this.state.project}**` : ''}: ${this.state.phase}`,
      `${done} of ${this.state.steps.length} step(s) done${running.length ? `; running: ${running.join(', ')}` : ''}`,
    ].join('\n\n');
  }

  /**
   * Announce a step the plan will run, as pending, so watchers see the whole
   * plan before it runs; `step` with the same key takes it over.
   */
  expect(key: string, title: string, where: StepTarget = {}): void {
    const step: ProgressStep = { id: this.state.steps.length + 1, title, state: 'pending', ...where };
    this.state.steps.push(step);
    this.pending.set(key, step);
    setCurrentDetails(this.details());
  }

  /** Run `fn` as a visible step: running while it runs, done or failed after. */
  async step<T>(title: string, fn: () => Promise<T>, where: StepTarget & { key?: string } = {}): Promise<T> {
    const { key, ...target } = where;
    const announced = key !== undefined ? this.pending.get(key) : undefined;
    if (key !== undefined) this.pending.delete(key);
    const step: ProgressStep = announced ?? { id: this.state.steps.length + 1, title, state: 'running' };
    Object.assign(step, { title, state: 'running', startedAt: Date.now() }, target);
    if (!announced) this.state.steps.push(step);
    setCurrentDetails(this.details());
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
      setCurrentDetails(this.details());
    }
  }
}

/**
 * Start tracking an operation and read its input. In runs since
 * ONE_MARKER_PATCH (workflows/patches.ts) the input is read first, so the
 * operation and the project its input names go to the search attributes in
 * one upsert instead of two (the same values, in the same workflow task). An
 * input that does not parse still gets the operation's search attribute and
 * the progress query before its failure, as before.
 */
export function trackOperation<T>(operation: string, read: () => T, projectOf: (input: T) => string | undefined): { progress: ProgressTracker; input: T } {
  if (!oneMarkerRun()) {
    const progress = new ProgressTracker(operation, '');
    return { progress, input: read() };
  }
  let input: T;
  try {
    input = read();
  } catch (err) {
    void new ProgressTracker(operation, '');
    throw err;
  }
  return { progress: new ProgressTracker(operation, projectOf(input) ?? ''), input };
}

/** The innermost cause's message: what the user needs to read (src/errors.ts walks the causes). */
export { rootMessage };
