/** Terminal rendering of progress: colours only on a TTY without NO_COLOR. */
import { splitFinalProgress, type Progress, type StepState } from '../messages';

const useColour = () => Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (useColour() ? `\u001b[${code}m${text}\u001b[0m` : text);

const MARK: Record<StepState, string> = { pending: '·', running: '…', done: '✔', failed: '✘' };
const COLOUR: Record<StepState, number> = { pending: 90, running: 33, done: 32, failed: 31 };

/** Prints each step once when it starts and once when it ends. */
export function progressPrinter(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
  const seen = new Map<number, StepState>();
  return (progress: Progress) => {
    for (const step of progress.steps) {
      if (seen.get(step.id) === step.state) continue;
      seen.set(step.id, step.state);
      const took = step.finishedAt && step.startedAt ? ` ${((step.finishedAt - step.startedAt) / 1000).toFixed(1)}s` : '';
      const detail = step.state === 'failed' && step.detail ? `\n    ${step.detail.replace(/\n/g, '\n    ')}` : '';
      write(`${paint(COLOUR[step.state], MARK[step.state])} ${step.title}${took}${detail}`);
    }
  };
}

/** What names one workflow run: enough for `dockflow watch`, `cancel` or a Temporal client. */
interface RunName {
  workflowId: string;
  firstExecutionRunId: string;
}

/**
 * A --json result: the workflow's ID and run ID first, then the result's own
 * fields. Results are objects (commands wrap lists), so a script reads both
 * from one document.
 */
export function workflowResultJson(handle: RunName, result: unknown): object {
  // finalProgress is for followers (src/messages.ts), not part of what the operation reports.
  const shown = splitFinalProgress(result).result;
  const fields = typeof shown === 'object' && shown !== null && !Array.isArray(shown) ? shown : { result: shown };
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, ...fields };
}

/**
 * A --json document for an operation that did not complete (also printed on stderr as before).
 * Async: the Temporal client is loaded on first use, not when the CLI starts (`--help` needs none of it).
 */
export async function workflowFailureJson(handle: RunName, err: unknown, message: string): Promise<object> {
  const { CancelledFailure, WorkflowFailedError } = await import('@temporalio/client');
  const cancelled = err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status: cancelled ? 'CANCELLED' : 'FAILED', error: message };
}
