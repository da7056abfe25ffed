/**
 * Loading compose files that live on the worker's host (a deploy started from
 * the Temporal UI or a Schedule names files instead of sending a spec).
 */
import { ApplicationFailure } from '@temporalio/common';
import { loadStack, ComposeError } from '../src/compose';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';

export interface LoadProjectInput {
  composeFiles: string[];
  project?: string;
  profiles?: string[];
  envFiles?: string[];
  projectDirectory?: string;
}

export function createComposeActivities(env: Record<string, string | undefined> = process.env) {
  return {
    async loadProject(input: LoadProjectInput): Promise<{ spec: StackSpec; warnings: string[] }> {
      try {
        return loadStack({
          files: input.composeFiles,
          projectName: input.project,
          profiles: input.profiles,
          envFiles: input.envFiles,
          workingDir: input.projectDirectory,
          environment: env,
        });
      } catch (err) {
        // A bad file stays bad on every retry: fail once, naming file and key.
        if (err instanceof ComposeError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.invalidSpec);
        throw err;
      }
    },
  };
}

export type ComposeActivities = ReturnType<typeof createComposeActivities>;
