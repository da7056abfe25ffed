/**
 * The worker's policy check, run by every workflow that creates containers
 * or touches data before it touches anything: the policy file lives on the
 * worker's host (DOCKFLOW_POLICY_FILE), so it is read here, at every check,
 * and a changed file applies to the next operation without a restart. A
 * revision recorded under a looser policy is checked again against the
 * policy as it is now.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'yaml';
import { DEFAULT_POLICY, PolicyFile, dataPathViolations, policyViolations, referenceViolations, type ComposeReferencePaths, type WorkerHost } from '../src/policy/policy';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';
import { formatZodError } from '../src/model/input';

type Env = Record<string, string | undefined>;

export function loadPolicy(env: Env = process.env): { policy: PolicyFile; source: string } {
  const file = env.DOCKFLOW_POLICY_FILE;
  if (!file) return { policy: DEFAULT_POLICY, source: 'the default policy; set DOCKFLOW_POLICY_FILE to change it' };
  let raw: unknown;
  try {
    raw = parse(fs.readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`the worker's policy file ${file} cannot be read: ${(err as Error).message}`, ErrorType.policyRefused);
  }
  const parsed = PolicyFile.safeParse(raw);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`the worker's policy file ${file} is invalid:\n${formatZodError(parsed.error, 'policy')}`, ErrorType.policyRefused);
  return { policy: parsed.data, source: file };
}

/**
 * The real path of `p` on this host: symlinks resolved; for a path that does
 * not exist (yet: Docker creates a missing bind source), its nearest existing
 * parent's real path with the rest appended.
 */
export function hostRealpath(p: string): string {
  const rest: string[] = [];
  let current = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(current);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) return path.resolve(p);
      rest.unshift(path.basename(current));
      current = parent;
    }
  }
}

/** What the policy needs to know about this worker's host, from its environment. */
export function workerHost(env: Env = process.env): WorkerHost {
  const dockerHost = env.DOCKER_HOST?.startsWith('unix://') ? env.DOCKER_HOST.slice('unix://'.length) : undefined;
  return {
    ...(env.DOCKFLOW_STACKS_DIR ? { stacksDir: env.DOCKFLOW_STACKS_DIR } : {}),
    ...(dockerHost ? { dockerSockets: [dockerHost] } : {}),
    realpath: hostRealpath,
  };
}

/**
 * Refuses a compose reference naming files outside the worker's project
 * roots, before anything is read. Called by the loader activity.
 */
export function checkComposeReference(ref: ComposeReferencePaths, env: Env = process.env): void {
  const { policy, source } = loadPolicy(env);
  const violations = referenceViolations(ref, process.cwd(), policy, source, workerHost(env));
  if (violations.length > 0) throw ApplicationFailure.nonRetryable(`invalid deploy input for this worker:\n${violations.join('\n')}`, ErrorType.policyRefused);
}

export interface DataPolicyInput {
  project: string;
  /** What is being done, for the message: "backup", "restore of backup 2026...". */
  operation: string;
  /** The project directory the paths belong to; absent (a restore): any project root. */
  projectDir?: string;
  paths: { key: string; source: string }[];
}

export function createPolicyActivities(env: Env = process.env) {
  return {
    /**
     * Refuses, naming service and key, what the worker's policy does not
     * allow. Touches nothing. `revision`: the spec is a recorded revision
     * (update, rollback), which the message names.
     */
    async checkPolicy(spec: StackSpec, context: { revision?: number } = {}): Promise<void> {
      const { policy, source } = loadPolicy(env);
      const violations = policyViolations(spec, policy, source, workerHost(env));
      if (violations.length > 0) {
        const subject =
          context.revision !== undefined
            ? `revision ${context.revision} of project ${spec.project} asks for more than this worker allows now`
            : `project ${spec.project} asks for more than this worker allows`;
        throw ApplicationFailure.nonRetryable(`${subject}:\n${violations.join('\n')}`, ErrorType.policyRefused);
      }
    },

    /** Refuses a backup or restore that would read or write host directories the policy does not allow. Touches nothing. */
    async checkDataPolicy(input: DataPolicyInput): Promise<void> {
      const { policy, source } = loadPolicy(env);
      const violations = dataPathViolations(input.paths, policy, source, workerHost(env), input.projectDir);
      if (violations.length > 0) {
        throw ApplicationFailure.nonRetryable(`${input.operation} of project ${input.project} reaches host directories this worker does not allow:\n${violations.join('\n')}`, ErrorType.policyRefused);
      }
    },
  };
}
