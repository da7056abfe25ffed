/**
 * The worker's policy check, run by every workflow that creates containers
 * before it touches anything: the policy file lives on the worker's host
 * (DOCKFLOW_POLICY_FILE), so it is read here, at every check, and a changed
 * file applies to the next operation without a restart.
 */
import * as fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'yaml';
import { DEFAULT_POLICY, PolicyFile, policyViolations } from '../src/policy/policy';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';
import { formatZodError } from '../src/model/input';

export function loadPolicy(env: Record<string, string | undefined> = process.env): { policy: PolicyFile; source: string } {
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

export function createPolicyActivities(env: Record<string, string | undefined> = process.env) {
  return {
    /** Refuses, naming service and key, what the worker's policy does not allow. Touches nothing. */
    async checkPolicy(spec: StackSpec): Promise<void> {
      const { policy, source } = loadPolicy(env);
      const violations = policyViolations(spec, policy, source);
      if (violations.length > 0) {
        throw ApplicationFailure.nonRetryable(`project ${spec.project} asks for more than this worker allows:\n${violations.join('\n')}`, ErrorType.policyRefused);
      }
    },
  };
}
