/**
 * What the data operations (backup, restore, migrate, rollback with data)
 * share: the stack they work on, the failure for input a pure decision
 * rejected, and starting a project's services again afterwards.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { BackupPlanError, startOrder, type DataContainer } from '../src/backup/plan';
import { ErrorType } from '../src/errors';
import type { ProgressTracker } from './progress';
import { host, onHost } from './apply';
import { LOCAL_DATA, type DataRoute } from './data-route';
import { loadComposeSource, requireProject } from './compose-source';

/** A pure decision rejected the input: fail at once, nothing has been touched. */
export function invalid(err: unknown, project: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const message = err instanceof BackupPlanError ? err.message : `project ${project}: ${err instanceof Error ? err.message : String(err)}`;
  return ApplicationFailure.nonRetryable(message, ErrorType.invalidSpec);
}

export interface StackSource {
  project: string;
  spec?: StackSpec;
  composeFiles?: string[];
  stack?: string;
  profiles?: string[];
  envFiles?: string[];
  projectDirectory?: string;
}

/**
 * The stack to work on: the inline spec, compose files on the worker host,
 * or (neither given) the project's current revision in the host's ledger.
 * Also the current revision, which backups record and link to.
 */
export async function resolveStack(input: StackSource, progress: ProgressTracker): Promise<{ spec: StackSpec; revision?: Revision }> {
  const revision = await host.getRevision({ project: input.project });
  if (input.spec) return { spec: input.spec, revision };
  if (input.composeFiles || input.stack) {
    const { spec } = await loadComposeSource(input, host, 'load compose files', progress);
    requireProject(input, spec);
    return { spec, revision };
  }
  if (!revision) {
    throw ApplicationFailure.nonRetryable(
      `project ${input.project} has no revision in this host's ledger: deploy it with dockflow first, or pass its compose files (-f, or "composeFiles")`,
      ErrorType.invalidSpec,
    );
  }
  return { spec: revision.spec, revision };
}

/**
 * Start again, dependencies first, every service container that ran when a
 * data operation observed the project (`before`): those it stopped on
 * purpose (`stopped`, named in the step) and any that stopped meanwhile,
 * e.g. when the Docker daemon restarted and took every container down.
 * Idempotent (a running container is left alone). Returns the containers
 * that no longer exist.
 */
export async function startAgain(project: string, before: DataContainer[], stopped: DataContainer[], progress: ProgressTracker, route: DataRoute = LOCAL_DATA): Promise<string[]> {
  const refs = startOrder(before.filter((c) => !c.oneoff && c.running)).map((c) => ({ id: c.id, name: c.name }));
  if (refs.length === 0) return [];
  const title = stopped.length > 0 ? `start ${stopped.map((c) => c.name).join(', ')} again` : `make sure ${refs.map((r) => r.name).join(', ')} still run`;
  const { missing } = await progress.step(`${title}${onHost(route.name)}`, () => route.docker.startContainers({ project, containers: refs }));
  return missing;
}
