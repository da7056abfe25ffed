/**
 * The project lock's own workflow (workflows/lock.ts says how operations take
 * it). It lives as long as the operation holding it, so a worker keeps one
 * cached beside every running operation. The SDK evaluates a workflow's
 * modules once per workflow execution, so this module imports only the SDK
 * and zod-free helpers: with zod and the model it cost about 3 MiB per held
 * lock (bench/RESULTS.md, Scale).
 */
import { ApplicationFailure, condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import { PROJECT_NAME_MAX_LENGTH, PROJECT_NAME_RULE, isProjectName } from '../src/model/project-name';
import { ErrorType } from '../src/errors';
import type { LockHolder } from '../src/model/lock';

export const releaseLockSignal = defineSignal('release');
export const lockHolderQuery = defineQuery<LockHolder>('holder');

export function lockWorkflowId(project: string): string {
  return `dockflow-lock-${project}`;
}

const HOLDER_FIELDS = ['project', 'operation', 'workflowId', 'since'] as const;

/**
 * What is wrong with a lock's input, one line per problem ("input.<field>: ..."),
 * empty when it is a holder. Accepts exactly what LockHolderInput (workflows/lock.ts,
 * zod) accepts: an object with these four fields and no other, each a non-empty
 * string, the project a project name; the fuzzer holds the two to the same answers.
 */
export function lockHolderProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [`input: expected an object, received ${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw}`];
  const fields = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const field of HOLDER_FIELDS) {
    const value = fields[field];
    if (typeof value !== 'string') problems.push(`input.${field}: expected string, received ${value === undefined ? 'undefined' : value === null ? 'null' : typeof value}`);
    else if (field === 'project' ? !isProjectName(value) : value.length === 0) problems.push(field === 'project' ? `input.project: not a valid project name: ${PROJECT_NAME_RULE} (at most ${PROJECT_NAME_MAX_LENGTH} characters)` : `input.${field}: must not be empty`);
  }
  const unknown = Object.keys(fields).filter((key) => !(HOLDER_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) problems.push(`input: unrecognized key(s): ${unknown.map((key) => JSON.stringify(key)).join(', ')}`);
  return problems;
}

/** The lock itself: holds until released or until its parent closes. */
export async function projectLock(rawHolder: unknown): Promise<LockHolder> {
  // Checked because the type is registered like any other and can be started by hand (Temporal UI, tctl):
  // a malformed holder fails at once instead of holding a lock no operation owns until someone terminates it.
  const problems = lockHolderProblems(rawHolder);
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`invalid projectLock input:\n${problems.join('\n')}`, ErrorType.invalidSpec);
  const holder = rawHolder as LockHolder;
  let released = false;
  setHandler(releaseLockSignal, () => {
    released = true;
  });
  setHandler(lockHolderQuery, () => holder);
  await condition(() => released);
  return holder;
}
