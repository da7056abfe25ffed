/**
 * Reading an operation's compose source (files or a named stack) on a worker,
 * shared by deploy, update, backup, restore and migrate so that every one of
 * them hands the loader the same fields.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { LoadProjectInput } from '../activities/compose';
import type { StackSpec } from '../src/model/spec';
import { ErrorType } from '../src/errors';
import type { ProgressTracker } from './progress';

/** Whatever proxy runs the loader: the shared queue's, a host's, or a local activity's. */
export interface ComposeLoader {
  loadProject(input: LoadProjectInput): Promise<{ spec: StackSpec; warnings: string[] }>;
}

/** Load `source` through `loader` as the progress step `title`. */
export function loadComposeSource(
  source: LoadProjectInput,
  loader: ComposeLoader,
  title: string,
  progress: ProgressTracker,
): Promise<{ spec: StackSpec; warnings: string[] }> {
  return progress.step(title, () =>
    loader.loadProject({
      composeFiles: source.composeFiles,
      stack: source.stack,
      project: source.project,
      profiles: source.profiles,
      envFiles: source.envFiles,
      projectDirectory: source.projectDirectory,
    }),
  );
}

/**
 * Files or a stack that describe another project are refused, so an
 * operation on one project never acts on another's volumes or containers.
 */
export function requireProject(source: LoadProjectInput & { project: string }, spec: StackSpec): void {
  if (spec.project === source.project) return;
  const described = source.stack !== undefined ? `stack ${source.stack}` : `compose files ${(source.composeFiles ?? []).join(', ')}`;
  throw ApplicationFailure.nonRetryable(`${described} describes project ${spec.project}, not ${source.project}`, ErrorType.invalidSpec);
}
