/**
 * Loading compose files that live on the worker's host (a deploy started from
 * the Temporal UI or a Schedule names files instead of sending a spec).
 *
 * Interpolation (`${VAR}`, a bare `environment: [VAR]`, COMPOSE_* settings)
 * sees the stack's own `.env` / env files and the worker variables named in
 * DOCKFLOW_INTERPOLATION_ALLOW, never the rest of the worker's environment:
 * a compose file must not be able to read `${DOCKFLOW_ENCRYPTION_KEY}` into a
 * container. (The CLI interpolates on the client with the user's shell
 * environment, as docker compose does.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { loadStack, ComposeError } from '../src/compose';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';
import { STACK_NAME_PATTERN } from '../src/model/input';
import { checkComposeReference } from './policy';

export interface LoadProjectInput {
  /** Compose files on the worker's host, in -f order. */
  composeFiles?: string[];
  /** A folder of DOCKFLOW_STACKS_DIR: its compose file(s) and .env, compose's default discovery. */
  stack?: string;
  project?: string;
  profiles?: string[];
  envFiles?: string[];
  projectDirectory?: string;
}

export function createComposeActivities(env: Record<string, string | undefined> = process.env) {
  return {
    async loadProject(input: LoadProjectInput): Promise<{ spec: StackSpec; warnings: string[] }> {
      const stackDir = input.stack !== undefined ? stackDirectory(input.stack, env) : undefined;
      // Files the client names are read only inside the worker's project roots (a stack folder always is).
      if (stackDir === undefined) checkComposeReference({ composeFiles: input.composeFiles, projectDirectory: input.projectDirectory, envFiles: input.envFiles }, env);
      else if (input.envFiles?.length) checkComposeReference({ projectDirectory: stackDir, envFiles: input.envFiles }, env);
      try {
        return loadStack({
          files: input.composeFiles,
          projectName: input.project,
          profiles: input.profiles,
          envFiles: input.envFiles,
          // A stack folder is its own project directory: compose finds compose.yaml (or its
          // siblings) and .env there, and the folder's name is the default project name.
          workingDir: stackDir ?? input.projectDirectory,
          environment: interpolationEnvironment(env),
        });
      } catch (err) {
        // A bad file stays bad on every retry: fail once, naming file and key.
        if (err instanceof ComposeError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.invalidSpec);
        throw err;
      }
    },
  };
}

/**
 * The worker's variables a compose file loaded on the worker may use: only
 * those DOCKFLOW_INTERPOLATION_ALLOW names (comma separated). Everything else
 * comes from the stack's .env / env files; unset variables are blank with a
 * warning, as in compose.
 */
export function interpolationEnvironment(env: Record<string, string | undefined>): Record<string, string> {
  const allowed = (env.DOCKFLOW_INTERPOLATION_ALLOW ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return Object.fromEntries(allowed.filter((name) => env[name] !== undefined).map((name) => [name, env[name]!]));
}

/**
 * The folder of a named stack under DOCKFLOW_STACKS_DIR. Every way this can
 * be wrong stays wrong on a retry, so each is a non-retryable failure that
 * says what to fix.
 */
export function stackDirectory(stack: string, env: Record<string, string | undefined>): string {
  const root = env.DOCKFLOW_STACKS_DIR;
  if (!root) {
    throw ApplicationFailure.nonRetryable(
      `stack "${stack}": this worker has no stacks directory; set DOCKFLOW_STACKS_DIR on the worker (one folder per project with its compose file and .env), or give "composeFiles"`,
      ErrorType.invalidSpec,
    );
  }
  // Checked again here: activities are also called with inputs no workflow validated.
  if (!STACK_NAME_PATTERN.test(stack)) {
    throw ApplicationFailure.nonRetryable(`stack "${stack}": a stack is a folder name in ${root}, not a path`, ErrorType.invalidSpec);
  }
  const dir = path.join(path.resolve(root), stack);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    let known: string[] = [];
    try {
      known = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    } catch {
      // the message below says the directory itself is unreadable
    }
    throw ApplicationFailure.nonRetryable(
      `stack "${stack}" is not a folder in DOCKFLOW_STACKS_DIR (${root}); ${known.length ? `stacks there: ${known.join(', ')}` : 'it has no stack folders'}`,
      ErrorType.invalidSpec,
    );
  }
  return dir;
}

export type ComposeActivities = ReturnType<typeof createComposeActivities>;
