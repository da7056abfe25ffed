/**
 * Commands for watching and setting up rather than changing the stack:
 * `setup` (search attributes on an existing cluster), `watch` (follow any
 * operation live) and `status`/`ps` (containers, current revision, running
 * operations).
 */
import type { Command } from 'commander';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { temporalSettings, type TemporalSettings } from '../temporal/settings';
import { Label } from '../model/labels';
import { progressQuery, type Progress } from '../messages';
import type { StackHosts } from '../../workflows/host-status';
import type { ObservedProject } from '../model/observed';
import type { DockerReads } from '../engine/reads';
import { outputAwarePrinter } from './backup-shared';
import { projectNameOption } from './options';
import { PROJECT_NAME_RULE, isProjectName } from '../model/project-name';
import { renderStackHosts } from './hosts-render';

/**
 * What these commands run with (the Temporal client, dockerode, the observe
 * step), loaded once one of them runs rather than at every CLI start (see main.ts).
 */
async function loadRuntime() {
  const [{ WorkflowFailedError }, { connectClient }, { executeOperation }, operations, { OPERATION_ATTRIBUTE, PROJECT_ATTRIBUTE }] = await Promise.all([
    import('@temporalio/client'),
    import('../client/connect'),
    import('../client/typed-starts'),
    import('../client/operations'),
    import('../temporal/search-attributes'),
  ]);
  const { failureMessage, follow, operationId } = operations;
  return { WorkflowFailedError, connectClient, executeOperation, failureMessage, follow, operationId, OPERATION_ATTRIBUTE, PROJECT_ATTRIBUTE };
}
let loadedRuntime: ReturnType<typeof loadRuntime> | undefined;
const runtime = () => (loadedRuntime ??= loadRuntime());

function write(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

async function connect(settings: TemporalSettings, connectTimeout?: Duration) {
  const { connectClient } = await runtime();
  return connectClient(settings, connectTimeout ? { connectTimeout } : {});
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [headers, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export interface RunningOperation {
  workflowId: string;
  operation: string;
  startTime: string;
  phase?: string;
  running?: string[];
}

export interface ProjectStatus {
  project: string;
  revision?: { number: number; operation: string; createdAt: string; workflowId: string };
  /** Why the revision or the running operations are unknown (Temporal or the worker did not answer). */
  unknown?: string;
  running: RunningOperation[];
  /** The services' containers (replicas): one-offs are not among them. */
  containers: ContainerStatus[];
  /**
   * One-off containers (migrations, backup helpers, `docker compose run`):
   * not replicas of their service; a failed one is kept for its logs until
   * removed with `remove` or `dockflow down`.
   */
  oneOffs: (ContainerStatus & { remove: string })[];
  /** With registered hosts: each host's revision and drift from the stack's current revision. */
  hosts?: StackHosts['hosts'];
  /** With registered hosts: the stack's current revision (the latest in any host's ledger). */
  stackRevision?: number;
}

export interface ContainerStatus {
  service: string;
  container: string;
  state: string;
  health: string;
  exitCode?: number;
  imageId: string;
  oneoff: boolean;
}

/** Operations on the project that are running now, through the DockflowProject search attribute. */
async function runningOperations(client: Client, project: string): Promise<RunningOperation[]> {
  const { OPERATION_ATTRIBUTE, PROJECT_ATTRIBUTE } = await runtime();
  const found: RunningOperation[] = [];
  const query = `${PROJECT_ATTRIBUTE.name} = '${project.replace(/'/g, "\\'")}' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query })) {
    const op: RunningOperation = {
      workflowId: wf.workflowId,
      operation: String(wf.typedSearchAttributes.get(OPERATION_ATTRIBUTE) ?? wf.type),
      startTime: wf.startTime.toISOString(),
    };
    try {
      const progress = await client.workflow.getHandle(wf.workflowId, wf.runId).query(progressQuery);
      op.phase = progress.phase;
      op.running = progress.steps.filter((s) => s.state === 'running').map((s) => s.title);
    } catch {
      // no worker answering right now: the list entry is still true
    }
    found.push(op);
  }
  return found;
}

/** The current revision from the worker host's ledger, through the `history` workflow (bounded: no worker, no answer). */
async function currentRevision(client: Client, taskQueue: string, project: string): Promise<ProjectStatus['revision']> {
  const { executeOperation, operationId } = await runtime();
  const entries = await executeOperation(client.workflow, 'history', {
    taskQueue,
    workflowId: operationId('history', project),
    input: { project },
    workflowExecutionTimeout: '15s',
  });
  const last = entries.at(-1);
  return last ? { number: last.number, operation: last.operation, createdAt: last.createdAt, workflowId: last.workflowId } : undefined;
}

/** A project's containers as `ps` shows them (from the local engine), before Temporal is asked. */
function containerStatus(observed: ObservedProject): ProjectStatus {
  const statusOf = (c: ObservedProject['containers'][number]): ContainerStatus => ({
    service: c.service,
    container: c.name,
    state: c.state,
    health: c.health ?? '',
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    imageId: c.imageId.replace(/^sha256:/, '').slice(0, 12),
    oneoff: c.oneoff,
  });
  return {
    project: observed.project,
    running: [],
    containers: observed.containers.filter((c) => !c.oneoff).map(statusOf),
    oneOffs: observed.containers.filter((c) => c.oneoff).map((c) => ({ ...statusOf(c), remove: `docker rm -f ${c.name}` })),
  };
}

/** Adds what Temporal and the worker know (running operations, current revision), or why that is unknown. */
async function withOperations(status: ProjectStatus, client: Client | undefined, taskQueue: string, unreachable?: string): Promise<ProjectStatus> {
  const { project } = status;
  if (!client) {
    status.unknown = unreachable;
    return status;
  }
  // A label set by something other than compose or dockflow: no ledger can exist for it, nothing to ask.
  if (!isProjectName(project)) {
    status.unknown = `${JSON.stringify(project)} is not a valid project name (${PROJECT_NAME_RULE}): not deployed by dockflow`;
    return status;
  }
  const [{ failureMessage }, { stackHostsStatus }] = await Promise.all([runtime(), import('../client/hosts')]);
  // Asked side by side (three round trips become one); reported as when asked in turn: what
  // comes after the first question Temporal or the worker did not answer stays unknown.
  const [running, revision, across] = await Promise.allSettled([
    runningOperations(client, project),
    currentRevision(client, taskQueue, project),
    stackHostsStatus(client.workflow, taskQueue, project),
  ]);
  const unanswered = (reason: unknown) => `Temporal or the worker did not answer: ${failureMessage(reason)}`;
  if (running.status === 'rejected') {
    status.unknown = unanswered(running.reason);
    return status;
  }
  status.running = running.value;
  if (revision.status === 'rejected') {
    status.unknown = unanswered(revision.reason);
    return status;
  }
  status.revision = revision.value;
  if (across.status === 'rejected') {
    status.unknown = unanswered(across.reason);
    return status;
  }
  if (across.value) Object.assign(status, { hosts: across.value.hosts, ...(across.value.revision !== undefined ? { stackRevision: across.value.revision } : {}) });
  return status;
}

function renderStatus(s: ProjectStatus): string {
  const lines = [`project ${s.project}`];
  lines.push(
    s.revision
      ? `  revision ${s.revision.number} (${s.revision.operation}, ${s.revision.createdAt}, ${s.revision.workflowId})`
      : s.unknown
        ? `  revision unknown (${s.unknown})`
        : '  no revision in the ledger (not deployed by dockflow)',
  );
  for (const op of s.running) {
    lines.push(`  running: ${op.operation} ${op.workflowId} since ${op.startTime}${op.phase ? ` (${op.phase}${op.running?.length ? `: ${op.running.join(', ')}` : ''})` : ''}`);
  }
  if (!s.running.length && !s.unknown) lines.push('  no operation running');
  if (s.hosts) lines.push(...renderStackHosts({ project: s.project, revision: s.stackRevision, hosts: s.hosts }));
  lines.push(
    s.containers.length
      ? table(
          ['SERVICE', 'CONTAINER', 'STATE', 'HEALTH', 'IMAGE'],
          s.containers.map((c) => [c.service, c.container, c.state + (c.state === 'exited' && c.exitCode !== undefined ? ` (${c.exitCode})` : ''), c.health, c.imageId]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')
      : '  no containers',
  );
  if (s.oneOffs.length) {
    lines.push(`  one-off containers (not replicas; remove with docker rm -f NAME or dockflow down -p ${s.project}):`);
    lines.push(
      table(
        ['SERVICE', 'CONTAINER', 'STATE', 'IMAGE'],
        s.oneOffs.map((c) => [c.service, c.container, c.state + (c.state === 'exited' && c.exitCode !== undefined ? ` (${c.exitCode})` : ''), c.imageId]),
      )
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  }
  return lines.join('\n');
}

/** Compose projects with containers on this host (the compose project label). */
async function projectsOnHost(docker: Pick<DockerReads, 'listContainers'>): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [Label.project] } });
  return [...new Set(containers.map((c) => c.Labels[Label.project]))].sort();
}

export function registerOperatorCommands(program: Command): void {
  program
    .command('setup')
    .description('prepare a Temporal namespace for dockflow: create it when the cluster lacks it, register its search attributes (DockflowProject, DockflowOperation)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe embedded dev server (dockflow dev) registers them itself; run this once for any other cluster.\nExample:\n  TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=ops dockflow setup')
    .action(async (opts) => {
      const [{ ensureNamespace, NAMESPACE_RETENTION_DAYS, NEW_NAMESPACE_GRACE_MS, registerSearchAttributes }, { PROJECT_ATTRIBUTE }] = await Promise.all([import('../temporal/setup'), runtime()]);
      const settings = temporalSettings();
      const { connection } = await connect(settings);
      try {
        const created = await ensureNamespace(connection.workflowService, settings.namespace);
        const result = { ...(await registerSearchAttributes(connection.operatorService, settings.namespace, created ? NEW_NAMESPACE_GRACE_MS : 0)), namespaceCreated: created };
        const text = [
          ...(created ? [`created namespace ${result.namespace} (retention ${NAMESPACE_RETENTION_DAYS} days)`] : []),
          result.added.length ? `registered ${result.added.join(', ')} in namespace ${result.namespace}` : `namespace ${result.namespace} already has ${result.present.join(', ')}`,
          `filter in the UI with e.g. ${PROJECT_ATTRIBUTE.name} = "shop"`,
        ].join('\n');
        write(Boolean(opts.json), result, text);
      } finally {
        await connection.close();
      }
    });

  program
    .command('watch')
    .description('follow any dockflow operation live (started from the CLI, the UI or a Schedule) until it ends')
    .argument('<workflow-id>', 'the operation\'s workflow ID')
    .option('--json', 'print the final result and progress as JSON instead of the live view')
    .addHelpText('after', '\nExit code: 0 when the operation completed, 1 when it failed or was cancelled.\nExample:\n  dockflow watch deploy-shop-20261122-120501-123')
    .action(async (workflowId: string, opts) => {
      const { failureMessage, follow, WorkflowFailedError } = await runtime();
      const settings = temporalSettings();
      const { connection, client } = await connect(settings);
      try {
        const handle: WorkflowHandle = client.workflow.getHandle(workflowId);
        const description = await handle.describe().catch((err) => {
          throw new Error(`no operation ${workflowId} in namespace ${settings.namespace}: ${failureMessage(err)}`);
        });
        if (!opts.json) process.stderr.write(`${description.type} ${workflowId} (${description.status.name.toLowerCase()})\n`);
        let last: Progress | undefined;
        const printer = opts.json ? () => undefined : outputAwarePrinter();
        try {
          const result = await follow<unknown>(handle, (p) => {
            last = p;
            printer(p);
          });
          write(Boolean(opts.json), { workflowId, type: description.type, status: 'COMPLETED', result, progress: last }, `${description.type} ${workflowId} completed${last ? `: ${last.phase}` : ''}`);
        } catch (err) {
          const message = last?.phase.includes('was cancelled') ? last.phase : failureMessage(err);
          if (opts.json) {
            write(true, { workflowId, type: description.type, status: err instanceof WorkflowFailedError ? 'FAILED' : 'ENDED', error: message, progress: last }, '');
            process.exitCode = 1;
            return;
          }
          throw new Error(message);
        }
      } finally {
        await connection.close();
      }
    });

  program
    .command('status')
    .alias('ps')
    .description('per project: current revision, running operation and each container\'s state and health')
    .addOption(projectNameOption('one project (default: every compose project with containers on this host)', { required: false }))
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nContainers come from the local Docker engine; the revision and running operations from Temporal and the worker.\nExamples:\n  dockflow ps\n  dockflow status -p shop --json')
    .action(async (opts) => {
      const settings = temporalSettings();
      // Only what ps needs, loaded here: the engine reads (no dockerode for a local socket) and the observation.
      const [{ engineReads }, { observeProject }] = await Promise.all([import('../engine/socket-reads'), import('../engine/observe')]);
      const docker = await engineReads();
      const projects = opts.projectName ? [opts.projectName as string] : await projectsOnHost(docker);
      // No project on this host: nothing to ask Temporal, so no connection (nor its wait when it does not answer).
      if (projects.length === 0) {
        write(Boolean(opts.json), [], 'no compose projects on this host');
        return;
      }
      // The engine's requests go out first; the Temporal client, the heaviest module ps loads,
      // loads while the engine answers them.
      const observing = Promise.all(projects.map((project) => observeProject(docker, project)));
      observing.catch(() => undefined);
      const { failureMessage } = await runtime();
      let connected: Awaited<ReturnType<typeof connect>> | undefined;
      let unreachable: string | undefined;
      try {
        connected = await connect(settings, '3s');
      } catch (err) {
        unreachable = `Temporal at ${settings.address} does not answer: ${failureMessage(err)}`;
      }
      try {
        // Projects are independent: asked side by side, printed in their sorted order.
        const observed = await observing;
        const statuses = await Promise.all(observed.map((o) => withOperations(containerStatus(o), connected?.client, settings.taskQueue, unreachable)));
        write(Boolean(opts.json), opts.projectName ? statuses[0] : statuses, statuses.map(renderStatus).join('\n\n'));
      } finally {
        await connected?.connection.close();
      }
    });
}
