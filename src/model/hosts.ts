/**
 * Docker hosts. Each host runs a worker (`dockflow worker --host NAME`) that
 * polls a task queue of its own for that host's Docker steps, beside the
 * shared queue that carries orchestration. A host name follows the project
 * name rule (src/model/names.ts): it reaches task queue names, workflow IDs
 * and, on the test bed, folder names.
 */
import { z } from 'zod';
import { PROJECT_NAME_MAX_LENGTH, PROJECT_NAME_RULE, isProjectName } from './names';

export const HOST_NAME_RULE = PROJECT_NAME_RULE.replace('project names', 'host names');

export function isHostName(name: unknown): name is string {
  return isProjectName(name);
}

export const HostName = z.string().refine(isHostName, `not a valid host name: ${HOST_NAME_RULE} (at most ${PROJECT_NAME_MAX_LENGTH} characters)`);

/** Throws a plain Error naming `where` unless `name` follows the rule. */
export function assertHostName(name: unknown, where = 'host'): string {
  if (!isHostName(name)) throw new Error(`${where}: ${JSON.stringify(name)} is not a valid host name: ${HOST_NAME_RULE}`);
  return name;
}

/** Label keys and values given to a host's worker (`--label zone=eu`), matched by `node.labels.K` constraints. */
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const HostLabels = z.record(z.string().regex(LABEL_KEY, 'a label key is letters, digits, ".", "_" and "-"'), z.string());

/** What placement needs to know of a host. */
export const HostInfo = z.strictObject({ name: HostName, labels: HostLabels });
export type HostInfo = z.infer<typeof HostInfo>;

/** The task queue a host's worker polls for its Docker steps: `<shared queue>@<host>`. */
export function hostTaskQueue(sharedQueue: string, host: string): string {
  return `${sharedQueue}@${assertHostName(host)}`;
}

/** `K=V` from the command line; throws naming the argument when it is not one. */
export function parseHostLabel(text: string): [string, string] {
  const at = text.indexOf('=');
  const key = at > 0 ? text.slice(0, at) : '';
  if (!LABEL_KEY.test(key)) throw new Error(`--label ${JSON.stringify(text)}: expected KEY=VALUE, the key made of letters, digits, ".", "_" and "-"`);
  return [key, text.slice(at + 1)];
}

/** Workflow ID under which a host's worker registers itself (labels, task queue). */
export function hostRegistrationId(host: string): string {
  return `dockflow-host-${assertHostName(host)}`;
}

/** What a host's worker registers (the input of its registration workflow, returned by its query). */
export const HostRegistration = z.strictObject({ name: HostName, labels: HostLabels, taskQueue: z.string().min(1) });
export type HostRegistration = z.infer<typeof HostRegistration>;

/** A host as `dockflow hosts` shows it. */
export interface HostStatus extends HostRegistration {
  /** When a worker last polled the host's task queue (ISO), if Temporal saw one. */
  lastPoll?: string;
  /** The worker's answer: its engine's version and the projects on it, or why it did not answer. */
  dockerVersion?: string;
  projects?: string[];
  error?: string;
}
