/**
 * The workflow half of the fuzzer: mutated inputs of every registered
 * workflow type, started through a Temporal client on a real dev server and
 * run by a real worker (test/support/harness.ts), with a deadline each.
 *
 * What must hold for every case:
 * - an input the workflow's schema refuses fails the workflow at once
 *   (status FAILED, an ApplicationFailure marked non-retryable, type
 *   InvalidSpec), and the message names the input path (`input.x: ...`);
 * - a valid input completes, or fails with a non-retryable failure: a
 *   failure that had to exhaust retries (or a timeout) means the input
 *   reached something that retried what cannot get better;
 * - no workflow task fails (that is a bug in workflow code: Temporal would
 *   retry it forever) and no case outlives its deadline;
 * - the lock workflow, given a valid holder, holds (is still running);
 * - no container, network or volume of a fuzz project exists afterwards.
 *
 * Noted, not failed: a valid input whose `project` is not a project name
 * (the schema lets it through; the project-name rule should refuse it).
 */
import type Docker from 'dockerode';
import { ApplicationFailure, type WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ChildWorkflowFailure, TimeoutFailure, TemporalFailure } from '@temporalio/common';
import { ErrorType } from '../../src/errors';
import { isProjectName } from '../../src/model/names';
import type { TestBed } from '../support/harness';
import { workflowCase, workflowFixtures, type WorkflowCase, type WorkflowFixtures, type WorkflowType } from './workflow-cases';

export interface WorkflowCaseResult {
  index: number;
  type: WorkflowType;
  invalid: boolean;
  mutations: string[];
  outcome: 'completed' | 'failed' | 'running' | 'hang' | 'start-refused';
  /** The failure, as the client sees it. */
  failure?: { kind: string; type?: string; nonRetryable?: boolean; message: string };
  ms: number;
  violations: string[];
  notes: string[];
}

export interface WorkflowFuzzOptions {
  seed: number;
  runs: number;
  only?: number;
  bed: TestBed;
  /** Project-name prefix of every valid input; what Docker is checked for. */
  prefix: string;
  fixtures?: WorkflowFixtures;
  deadlineMs?: number;
  /** Cases in flight at once. */
  lanes?: number;
  log?: (line: string) => void;
}

/** The innermost failure and what it says about retries. */
function describeFailure(err: unknown): NonNullable<WorkflowCaseResult['failure']> {
  let failure: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  const chain: string[] = [];
  while (failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure) {
    chain.push(failure.constructor.name);
    failure = failure.cause;
  }
  const prefix = chain.length ? `${chain.join(' > ')} > ` : '';
  if (failure instanceof ApplicationFailure) return { kind: `${prefix}ApplicationFailure`, type: failure.type ?? undefined, nonRetryable: failure.nonRetryable ?? undefined, message: failure.message };
  if (failure instanceof TimeoutFailure) return { kind: `${prefix}TimeoutFailure`, message: failure.message };
  if (failure instanceof TemporalFailure) return { kind: `${prefix}${failure.constructor.name}`, message: failure.message };
  return { kind: `${prefix}${(failure as Error)?.constructor?.name ?? typeof failure}`, message: String((failure as Error)?.message ?? failure) };
}

async function workflowTaskFailures(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.workflowTaskFailedEventAttributes)
    .map((e) => e.workflowTaskFailedEventAttributes?.failure?.message ?? 'workflow task failed')
    .slice(0, 3);
}

/** Containers, networks and volumes that belong to a fuzz project (label) or carry the prefix in their name. */
export async function fuzzObjects(docker: Docker, prefix: string): Promise<string[]> {
  const mine = (name: string | undefined, labels: Record<string, string> | null | undefined) =>
    (name ?? '').includes(prefix) || (labels?.['com.docker.compose.project'] ?? '').startsWith(prefix);
  const [containers, networks, volumes] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks(), docker.listVolumes()]);
  return [
    ...containers.filter((c) => c.Names.some((n) => mine(n, c.Labels))).map((c) => `container ${c.Names[0]}`),
    ...networks.filter((n) => mine(n.Name, n.Labels)).map((n) => `network ${n.Name}`),
    ...(volumes.Volumes ?? []).filter((v) => mine(v.Name, v.Labels)).map((v) => `volume ${v.Name}`),
  ].sort();
}

const INPUT_PATH = /(^|\n)input(\.|\[|:)/;

export function judgeWorkflow(c: WorkflowCase, r: Omit<WorkflowCaseResult, 'violations' | 'notes'>, taskFailures: string[], deadlineMs: number): { violations: string[]; notes: string[] } {
  const violations: string[] = [];
  const notes: string[] = [];
  for (const message of taskFailures) violations.push(`workflow task failed (Temporal retries it forever): ${message.slice(0, 200)}`);
  if (r.outcome === 'hang') violations.push(`not closed within ${deadlineMs} ms`);
  if (c.invalid) {
    if (r.outcome === 'start-refused') return { violations, notes };
    if (r.outcome !== 'failed') violations.push(`an invalid input ended ${r.outcome}, not FAILED`);
    else {
      const f = r.failure!;
      if (f.kind !== 'ApplicationFailure' || f.nonRetryable !== true) violations.push(`an invalid input failed retryably: ${f.kind} ${f.message.slice(0, 200)}`);
      if (f.type !== ErrorType.invalidSpec) violations.push(`an invalid input failed with type ${f.type}, not ${ErrorType.invalidSpec}`);
      if (!INPUT_PATH.test(f.message)) violations.push(`the failure names no input path: ${f.message.slice(0, 200)}`);
    }
  } else {
    if (c.type === 'projectLock') {
      if (r.outcome !== 'running') violations.push(`a valid lock holder did not hold the lock: ${r.outcome} ${r.failure?.message.slice(0, 200) ?? ''}`);
    } else if (r.outcome === 'failed') {
      const f = r.failure!;
      if (!f.kind.endsWith('ApplicationFailure') || f.nonRetryable !== true) violations.push(`a valid input's failure was retried until it gave up: ${f.kind} ${f.message.slice(0, 200)}`);
    } else if (r.outcome !== 'completed') violations.push(`a valid input ended ${r.outcome}`);
    const project = (c.input as Record<string, unknown>).project;
    if (c.type !== 'deploy' && typeof project === 'string' && !isProjectName(project)) {
      notes.push(`accepted project ${JSON.stringify(String(project as unknown).slice(0, 60))}, which is not a project name (outcome ${r.outcome}${r.failure ? `: ${r.failure.message.slice(0, 120)}` : ''})`);
    }
  }
  return { violations, notes };
}

export async function runWorkflowFuzz(options: WorkflowFuzzOptions): Promise<{ results: WorkflowCaseResult[]; created: string[] }> {
  const { bed, prefix } = options;
  const deadlineMs = options.deadlineMs ?? 30_000;
  const log = options.log ?? (() => undefined);
  const fixtures = options.fixtures ?? workflowFixtures(prefix);
  const client = bed.env.client.workflow;
  const before = new Set(await fuzzObjects(bed.docker, prefix));
  const indexes = options.only !== undefined ? [options.only] : Array.from({ length: options.runs }, (_, i) => i);
  const queue = [...indexes];
  const results: WorkflowCaseResult[] = [];

  const runOne = async (c: WorkflowCase): Promise<WorkflowCaseResult> => {
    const workflowId = `${prefix}${options.seed}-${c.index}-${c.type}`;
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    let handle: WorkflowHandle;
    try {
      handle = await client.start(c.type, { taskQueue: bed.taskQueue, workflowId, args: [c.input], workflowExecutionTimeout: '10m' });
    } catch (err) {
      // The server refusing the start (e.g. a payload over its size limit) touches nothing: fine for invalid input.
      const base = { index: c.index, type: c.type, invalid: c.invalid, mutations: c.mutations, outcome: 'start-refused' as const, failure: describeFailure(err), ms: ms() };
      const violations = c.invalid ? [] : [`the server refused to start a valid input: ${(err as Error).message.slice(0, 200)}`];
      return { ...base, violations, notes: [] };
    }
    // The lock holds until released: a valid holder is checked to be running, then ended.
    const wait = c.type === 'projectLock' && !c.invalid ? Math.min(deadlineMs, 5000) : deadlineMs;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      handle.result().then(
        () => ({ outcome: 'completed' as const }),
        (err) => ({ outcome: 'failed' as const, failure: describeFailure(err) }),
      ),
      new Promise<{ outcome: 'hang' | 'running' }>((resolve) => {
        timer = setTimeout(() => resolve({ outcome: c.type === 'projectLock' && !c.invalid ? 'running' : 'hang' }), wait);
      }),
    ]);
    clearTimeout(timer);
    const elapsed = ms();
    if (outcome.outcome === 'hang' || outcome.outcome === 'running') {
      const status = (await handle.describe()).status.name;
      if (status !== 'RUNNING' && outcome.outcome === 'running') {
        // Closed just now: judge what it became.
        const settled = await handle.result().then(
          () => ({ outcome: 'completed' as const }),
          (err) => ({ outcome: 'failed' as const, failure: describeFailure(err) }),
        );
        Object.assign(outcome, settled);
      } else if (status === 'RUNNING') await handle.terminate('fuzz case deadline').catch(() => undefined);
    }
    const taskFailures = await workflowTaskFailures(handle).catch(() => []);
    const result = { index: c.index, type: c.type, invalid: c.invalid, mutations: c.mutations, ...outcome, ms: elapsed };
    const { violations, notes } = judgeWorkflow(c, result, taskFailures, deadlineMs);
    return { ...result, violations, notes };
  };

  const lane = async () => {
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const c = workflowCase(options.seed, index, prefix, fixtures);
      const result = await runOne(c);
      results.push(result);
      if (result.violations.length > 0) log(`workflow case ${index} (${c.type}${c.invalid ? ', invalid' : ', valid'}: ${c.mutations.join('; ')}): ${result.violations.join('; ')}`);
      if (results.length % 100 === 0) log(`workflows: ${results.length}/${indexes.length} cases`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.lanes ?? 6, indexes.length) }, lane));
  results.sort((a, b) => a.index - b.index);

  const created = (await fuzzObjects(bed.docker, prefix)).filter((o) => !before.has(o));
  return { results, created };
}
