/**
 * `dockflow status` (alias `ps`): per project, its containers from the local
 * Docker engine, and from Temporal and the worker its running operations and
 * current revision (./status-temporal.ts).
 *
 * ps is run often and by hand, so it loads little: the engine is read over
 * its socket (src/engine/socket-reads.ts), and Temporal through the light
 * client (src/client/light-temporal.ts); the Temporal SDK loads only for what
 * the light client cannot answer, and the answer is the same either way.
 */
import type { Command } from 'commander';
import { temporalSettings, type TemporalSettings } from '../temporal/settings';
import { Label } from '../model/labels';
import type { StackHosts } from '../../workflows/host-status';
import type { ObservedProject } from '../model/observed';
import type { DockerReads } from '../engine/reads';
import { projectNameOption } from './options';
import { PROJECT_NAME_RULE, isProjectName } from '../model/project-name';
import { renderStackHosts } from './hosts-render';
import type { Revision, RunningOperation, StatusReads } from './status-temporal';

/** How long ps waits for Temporal to accept a connection before it shows the containers alone. */
const CONNECT_TIMEOUT_MS = 3_000;

export function write(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [headers, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export interface ProjectStatus {
  project: string;
  revision?: NonNullable<Revision>;
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

/**
 * What Temporal and the worker know of a project (running operations, current revision, hosts), or
 * why that is unknown; the fields in the order ps has always printed them, after the containers.
 */
async function operationsOf(project: string, reads: StatusReads | undefined, unreachable?: string): Promise<Partial<ProjectStatus>> {
  if (!reads) return { unknown: unreachable };
  // A label set by something other than compose or dockflow: no ledger can exist for it, nothing to ask.
  if (!isProjectName(project)) return { unknown: `${JSON.stringify(project)} is not a valid project name (${PROJECT_NAME_RULE}): not deployed by dockflow` };
  // Asked side by side (three round trips become one); reported as when asked in turn: what
  // comes after the first question Temporal or the worker did not answer stays unknown.
  const [running, revision, across] = await Promise.allSettled([reads.running(project), reads.revision(project), reads.hosts(project)]);
  const unanswered = async (reason: unknown) => ({ unknown: `Temporal or the worker did not answer: ${await reads.failureMessage(reason)}` });
  if (running.status === 'rejected') return unanswered(running.reason);
  if (revision.status === 'rejected') return { running: running.value, ...(await unanswered(revision.reason)) };
  if (across.status === 'rejected') return { running: running.value, revision: revision.value, ...(await unanswered(across.reason)) };
  return {
    running: running.value,
    revision: revision.value,
    ...(across.value ? { hosts: across.value.hosts, ...(across.value.revision !== undefined ? { stackRevision: across.value.revision } : {}) } : {}),
  };
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

/**
 * Temporal, connected: the light client when it connects, else the SDK's
 * (within what is left of the same 3 s), else why Temporal does not answer, in
 * the SDK's words.
 */
async function connectTemporal(settings: TemporalSettings): Promise<{ reads?: StatusReads; unreachable?: string }> {
  const started = Date.now();
  const [{ LightTemporal }, { cliKeys }, { connectSdk, lightReads }] = await Promise.all([
    import('../client/light-temporal'),
    import('../temporal/dev-key'),
    import('./status-temporal'),
  ]);
  try {
    // cliKeys throws on an unreadable dev-server record: the SDK's connect below then words it as before.
    const keys = cliKeys(settings.address);
    return { reads: lightReads(await LightTemporal.connect(settings, keys, CONNECT_TIMEOUT_MS), settings) };
  } catch {
    // e.g. refused: the SDK tries again until the same deadline, and words the failure as before.
  }
  try {
    return { reads: await connectSdk(settings, Math.max(100, CONNECT_TIMEOUT_MS - (Date.now() - started))) };
  } catch (err) {
    const { failureMessage } = await import('../client/operations');
    return { unreachable: `Temporal at ${settings.address} does not answer: ${failureMessage(err)}` };
  }
}

export function registerStatusCommand(program: Command): void {
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
      // One project named: Temporal is connected to while the engine is read.
      let connecting = opts.projectName ? connectTemporal(settings) : undefined;
      try {
        const docker = await engineReads();
        const projects = opts.projectName ? [opts.projectName as string] : await projectsOnHost(docker);
        // No project on this host: nothing to ask Temporal, so no connection (nor its wait when it does not answer).
        if (projects.length === 0) {
          write(Boolean(opts.json), [], 'no compose projects on this host');
          return;
        }
        const observing = Promise.all(projects.map((project) => observeProject(docker, project)));
        observing.catch(() => undefined);
        connecting ??= connectTemporal(settings);
        const connected = await connecting;
        // Projects are independent, and Temporal's answers do not wait for the engine's: all asked
        // side by side, printed in their sorted order. (operationsOf settles every question it asks.)
        const asking = Promise.all(projects.map((project) => operationsOf(project, connected.reads, connected.unreachable)));
        asking.catch(() => undefined);
        const observed = await observing;
        const answers = await asking;
        const statuses = observed.map((o, i) => Object.assign(containerStatus(o), answers[i]));
        write(Boolean(opts.json), opts.projectName ? statuses[0] : statuses, statuses.map(renderStatus).join('\n\n'));
      } finally {
        if (connecting) await (await connecting).reads?.close();
      }
    });
}
