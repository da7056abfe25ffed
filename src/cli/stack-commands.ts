/**
 * The commands that change or read a stack: deploy, update, rollback,
 * history, cancel, down. Each loads what it runs with (the compose loader,
 * the Temporal client) in its action, as main.ts explains.
 */
import { Command, Option } from 'commander';
import * as path from 'node:path';
import { temporalSettings } from '../temporal/settings';
import type { UpdateResult } from '../../workflows/update';
import type { RollbackResult } from '../../workflows/rollback';
import type { HostInfo } from '../model/hosts';
import type { StackSpec } from '../model/spec';
import type { DeployResult } from '../../workflows/deploy';
import { DEST_HELP, destination } from './backup-shared';
import { HOOK_CONTINUE_WARNING } from '../errors';
import { collect, durationArg, positiveNumberArg, positiveWholeNumberArg, projectNameOption, ratioArg, wholeNumberArg } from './options';
import { UsageError, out, runOperation, withSdkClient, type RunOptions } from './run-operation';
import { connectLight, runLightOperation } from './light-operation';
import { operationId } from '../client/operation-id';
import type { DeployInput, DownInput, RollbackInput, UpdateInput } from '../model/input';
import type { OperationInputs } from '../client/typed-starts';

interface ComposeFlags {
  file?: string[];
  projectName?: string;
  profile?: string[];
  envFile?: string[];
  projectDirectory?: string;
}

/** A post_deploy hook that failed under failure_action continue: the operation succeeded, the user still hears of it. */
function hookWarnings(warnings: string[] | undefined): string {
  return (warnings ?? [])
    .filter((w) => w.startsWith(HOOK_CONTINUE_WARNING))
    .map((w) => `\nwarning: ${w}`)
    .join('');
}

async function loadFromFlags(flags: ComposeFlags) {
  const { loadStack, ComposeError } = await import('../compose');
  // One turn of the event loop between loading the loader (0.15-0.3 s of CPU) and running it, so a
  // connection opened before (deploy's, to Temporal) is made and its first request sent meanwhile.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    const result = loadStack({
      files: flags.file?.map((f) => path.resolve(f)),
      projectName: flags.projectName,
      profiles: flags.profile,
      envFiles: flags.envFile?.map((f) => path.resolve(f)),
      workingDir: flags.projectDirectory ? path.resolve(flags.projectDirectory) : flags.file?.length ? undefined : process.cwd(),
    });
    for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
    return result;
  } catch (err) {
    if (err instanceof ComposeError) throw new UsageError(err.message);
    throw err;
  }
}

function composeOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <file>', 'compose file (repeatable; later files override earlier ones)', collect)
    .addOption(projectNameOption('project name (default: name: in the file, else the directory name)', { required: false }))
    .option('--profile <profile>', 'enable a profile (repeatable)', collect)
    .option('--env-file <file>', 'environment file for interpolation (repeatable; default: .env in the project directory)', collect)
    .option('--project-directory <dir>', 'directory relative paths resolve against (default: the first file\'s directory)');
}

/** deploy, update, rollback, history, cancel, down. */
export function registerStackCommands(program: Command): void {
  composeOptions(program.command('deploy'))
    .description('create or update the stack so the host matches the compose files')
    .option('--dry-run', 'print the plan (with the deploy hooks that would run) and change nothing')
    .option('-d, --detach', 'start the deploy and return its workflow ID without waiting')
    .option('--remove-orphans', 'remove containers of services that are no longer in the compose files')
    .option('--build', 'rebuild images of services that have a build: section')
    .option('--no-wait', 'do not wait for services with a healthcheck to become healthy')
    .option('--wait-lock', 'when another operation holds the project, wait for it instead of failing')
    .option('-V, --renew-anon-volumes', 'recreated containers get fresh anonymous volumes instead of keeping their predecessors\' (which are removed)')
    .addOption(new Option('--health-timeout <seconds>', 'upper bound for each health wait').argParser(positiveNumberArg))
    .option('--host <name>', 'with several registered hosts: where services without placement constraints run (default: the only host)')
    .addOption(new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves one of its steps untaken this long counts as failed (default 60)').argParser(positiveWholeNumberArg))
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow deploy -f docker-compose.yml --profile ui\n  dockflow deploy -f compose.yml -f compose.prod.yml --remove-orphans --detach')
    .action(async (opts) => {
      const settings = temporalSettings();
      // Temporal is connected to, without the SDK, and asked for the registered hosts while the compose files load.
      const connecting = await connectLight(settings);
      try {
        const [{ spec }, { isHostName, HOST_NAME_RULE }] = await Promise.all([loadFromFlags(opts), import('../model/hosts')]);
        if (opts.host !== undefined && !isHostName(opts.host)) throw new UsageError(`--host: ${JSON.stringify(opts.host)} is not a valid host name: ${HOST_NAME_RULE}`);
        const input = (hosts: Awaited<ReturnType<typeof deployHosts>>): DeployInput => ({
          ...hosts,
          spec,
          dryRun: Boolean(opts.dryRun),
          removeOrphans: Boolean(opts.removeOrphans),
          build: Boolean(opts.build),
          wait: opts.wait !== false,
          waitForLock: Boolean(opts.waitLock),
          ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
          ...(opts.healthTimeout !== undefined ? { healthTimeoutSeconds: opts.healthTimeout } : {}),
        });
        const runOpts = { ...opts, quiet: opts.dryRun, announce: opts.dryRun ? 'planning' : 'deploying' };
        const render = (r: DeployResult) =>
          r.dryRun ? (r.graph ?? r.plan) : `${r.project}: ${r.operations} operation(s) applied${r.hosts ? ` on ${[...new Set([...Object.values(r.hosts), ...Object.values(r.spread ?? {}).flat()])].sort().join(', ')}` : ''}, now at revision ${r.revision}\n${r.plan}${hookWarnings(r.warnings)}`;
        const workflowId = operationId(opts.dryRun ? 'plan' : 'deploy', spec.project);
        // Single-host mode (no registered host): started and followed without the SDK. Anything else, or a
        // start that did not go through, takes the SDK path, with the same workflow ID.
        const light = await connecting.light;
        if (light && (await connecting.registeredHosts) === 0) {
          const started = { type: 'deploy', workflowId, input: input(await deployHosts([], spec, opts.host, opts.hostTimeout)) };
          if (await runLightOperation<DeployResult>(light, settings, runOpts, started, render)) return;
        }
        const [{ startDeploy }, { registeredHosts }] = await Promise.all([import('../client/operations'), import('../client/hosts')]);
        await runOperation<DeployResult>(
          runOpts,
          async (client, queue) => startDeploy(client, queue, spec.project, input(await deployHosts(await registeredHosts(client), spec, opts.host, opts.hostTimeout)), workflowId),
          render,
        );
      } finally {
        await connecting.close();
      }
    });

  program
    .command('update')
    .description('change one service (image, replicas) and roll it out with its update_config')
    .addOption(projectNameOption())
    .argument('<service>', 'service to update')
    .option('--image <image>', 'new image (on the host or pullable)')
    .addOption(new Option('--scale <n>', 'new replica count').argParser(wholeNumberArg))
    .addOption(new Option('--parallelism <n>', 'containers replaced at once (0 = all)').argParser(wholeNumberArg))
    .addOption(new Option('--order <order>', 'replacement order').choices(['start-first', 'stop-first']))
    .addOption(new Option('--delay <duration>', 'pause between batches, e.g. 5s').argParser(durationArg))
    .addOption(new Option('--monitor <duration>', 'how long a new container must stay healthy, e.g. 10s').argParser(durationArg))
    .addOption(new Option('--max-failure-ratio <ratio>', 'failed fraction tolerated (0..1)').argParser(ratioArg))
    .addOption(new Option('--failure-action <action>', 'what a failure does').choices(['rollback', 'pause', 'continue']))
    .option('--allow-stop-first', 'fall back to stop-first when a fixed host port makes start-first impossible')
    .option('-V, --renew-anon-volumes', 'recreated containers get fresh anonymous volumes instead of keeping their predecessors\' (which are removed)')
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('--dry-run', 'print every step the update would take (rollout batches, fallbacks, restarts) and change nothing')
    .addOption(new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves one of its steps untaken this long counts as failed (default 60)').argParser(positiveWholeNumberArg))
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow update -p shop web --image shop-web:2 --order start-first --monitor 10s\n  dockflow update -p shop web --image shop-web:2 --parallelism 1 --dry-run\n  dockflow update -p shop worker --scale 4')
    .action(async (service: string, opts) => {
      const rollout = {
        ...(opts.parallelism !== undefined ? { parallelism: opts.parallelism } : {}),
        ...(opts.order ? { order: opts.order } : {}),
        ...(opts.delay !== undefined ? { delayMs: opts.delay } : {}),
        ...(opts.monitor !== undefined ? { monitorMs: opts.monitor } : {}),
        ...(opts.maxFailureRatio !== undefined ? { maxFailureRatio: opts.maxFailureRatio } : {}),
        ...(opts.failureAction ? { failureAction: opts.failureAction } : {}),
        ...(opts.allowStopFirst ? { allowStopFirst: true } : {}),
      };
      await runStackOperation(
        { ...opts, quiet: opts.dryRun },
        'update',
        opts.projectName,
        opts.hostTimeout,
        (hosts): UpdateInput => ({
          ...hosts,
          project: opts.projectName,
          service,
          ...(opts.image ? { image: opts.image } : {}),
          ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
          rollout,
          waitForLock: Boolean(opts.wait),
          ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
          ...(opts.dryRun ? { dryRun: true } : {}),
        }),
        (r: UpdateResult) =>
          r.dryRun
            ? `${r.project}: update of ${r.service} from revision ${r.revision} (dry run, nothing changed)\n${r.graph ?? r.plan}`
            : `${r.project}: ${r.service} updated, now at revision ${r.revision}\n${r.plan}${hookWarnings(r.warnings)}`,
      );
    });

  program
    .command('rollback')
    .description('restore an earlier revision from the host\'s ledger (exact image IDs, rolling)')
    .addOption(projectNameOption())
    .addOption(new Option('--to <revision>', 'revision number (default: the one before the current)').argParser(positiveWholeNumberArg))
    .option('-V, --renew-anon-volumes', 'recreated containers get fresh anonymous volumes instead of keeping their predecessors\' (which are removed)')
    .option('--with-data', 'also restore the backup of the revision\'s data (the one taken just before the operation that followed it; see dockflow history), after backing up the current data')
    .option('--dest <dir|url>', `with --with-data: ${DEST_HELP} (default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups)`)
    .addOption(new Option('--health-timeout <seconds>', 'upper bound for each health wait (default: from the healthcheck)').argParser(positiveNumberArg))
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .addOption(new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves a step untaken this long is left out and named (default 60)').argParser(positiveWholeNumberArg))
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  dockflow rollback -p shop\n  dockflow rollback -p shop --to 3\n' +
        '  dockflow rollback -p shop --to 3 --with-data    revision 3\'s images and its data (e.g. the pre-migration backup)',
    )
    .action(async (opts) => {
      if (opts.dest !== undefined && !opts.withData) throw new UsageError('--dest is only used with --with-data');
      await runStackOperation(
        opts,
        'rollback',
        opts.projectName,
        opts.hostTimeout,
        (hosts): RollbackInput => ({
          ...hosts,
          project: opts.projectName,
          waitForLock: Boolean(opts.wait),
          ...(opts.to !== undefined ? { to: opts.to } : {}),
          ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
          ...(opts.healthTimeout !== undefined ? { healthTimeoutSeconds: opts.healthTimeout } : {}),
          ...(opts.withData ? { withData: true } : {}),
          ...(opts.dest !== undefined ? { destination: destination(opts.dest) } : {}),
        }),
        (r: RollbackResult) =>
          `${r.project}: restored revision ${r.restored} as revision ${r.revision}` +
          (r.dataBackup ? `, with the data of backup ${r.dataBackup} (${(r.dataSets ?? []).join(', ')}); the data it replaced is backup ${r.safetyBackup}` : '') +
          (r.unreachable?.length ? `\nnot reached: ${r.unreachable.join(', ')} (left as it was; the next operation converges it)` : '') +
          `\n${r.plan}`,
      );
    });

  program
    .command('history')
    .description('list the project\'s revisions from the host\'s ledger')
    .addOption(projectNameOption())
    .option('--dest <dir|url>', `where to look for each revision's data backup: ${DEST_HELP} (default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups)`)
    .addOption(new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker does not read its ledger within this long is left out and named (default 60)').argParser(positiveWholeNumberArg))
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow history -p shop\n  dockflow history -p shop --json\n"data:" names the backup rollback --to N --with-data restores.')
    .action(async (opts) => {
      const { startHistory } = await import('../client/operations');
      type History = Awaited<ReturnType<typeof import('../../workflows/rollback').history>>;
      // Across hosts the result names the hosts that did not answer; on one host it is the bare list.
      const revisionsOf = (h: History) => (Array.isArray(h) ? h : h.revisions);
      const unreachableOf = (h: History) => (Array.isArray(h) ? [] : h.unreachable);
      await runOperation(
        // An object, not the bare list, so the JSON can name the workflow too.
        {
          ...opts,
          quiet: true,
          jsonOf: (h: History) => ({ project: opts.projectName, revisions: revisionsOf(h), ...(unreachableOf(h).length ? { unreachable: unreachableOf(h) } : {}) }),
        },
        async (client, queue) =>
          startHistory(client, queue, { ...(await everyHost(client, opts.hostTimeout)), project: opts.projectName, ...(opts.dest !== undefined ? { destination: destination(opts.dest) } : {}) }),
        (h: History) => {
          const entries = revisionsOf(h);
          const missing = unreachableOf(h).length ? `\nnot reached: ${unreachableOf(h).join(', ')} (ledger not read)` : '';
          return (
            (entries.length === 0
              ? `no revisions of ${opts.projectName} in the ledger`
              : entries
                  .map((e) =>
                    [
                      `${String(e.number).padStart(3)}  ${e.createdAt}  ${e.operation}${e.restoredFrom ? ` (to ${e.restoredFrom})` : ''}  ${e.workflowId}`,
                      ...e.changes.map((c) => `       ${c}`),
                      ...(e.dataBackup ? [`       data: backup ${e.dataBackup.id} (${e.dataBackup.reason})`] : []),
                    ].join('\n'),
                  )
                  .join('\n')) + missing
          );
        },
      );
    });

  program
    .command('cancel')
    .description('cancel a running operation (also possible from the Temporal UI)')
    .argument('<workflow-id>', 'the operation\'s workflow ID, as deploy -d or the UI shows it')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe operation undoes what it had changed; `dockflow watch ID` shows it finishing.\nExample:\n  dockflow cancel deploy-shop-20261122-120501-123')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      await withSdkClient(temporalSettings(), async (client) => {
        await client.workflow.getHandle(workflowId).cancel();
        out(Boolean(opts.json), { workflowId, cancellationRequested: true }, `cancellation requested for ${workflowId}`);
      });
    });

  program
    .command('down')
    .description('remove the project\'s containers and networks')
    .addOption(projectNameOption())
    .option('-v, --volumes', 'also remove the project\'s named volumes and its containers\' anonymous volumes')
    .option('--wait', 'when another operation holds the project, wait for it instead of failing')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow down -p shop\n  dockflow down -p shop --volumes    also delete its named volumes (data!)')
    .action(async (opts) => {
      await runStackOperation(
        opts,
        'down',
        opts.projectName,
        undefined,
        (hosts): DownInput => ({ ...hosts, project: opts.projectName, volumes: Boolean(opts.volumes), waitForLock: Boolean(opts.wait) }),
        // Across hosts, a host that was down is named with what it still runs.
        (r: { removed: string[]; warnings?: string[] }) =>
          (r.removed.length ? `removed ${r.removed.join(', ')}` : `nothing to remove for ${opts.projectName}`) + (r.warnings ?? []).map((w) => `\nwarning: ${w}`).join(''),
      );
    });
}

type EveryHost = Awaited<ReturnType<typeof everyHost>>;

/**
 * update, rollback and down, as deploy: in single-host mode (no registered
 * host) started and followed through the light client, without loading the
 * SDK; with registered hosts, or when the light start did not go through,
 * through the SDK with the same workflow ID. `--host-timeout` without hosts
 * takes the SDK path, whose host look-up refuses it as a usage error.
 */
async function runStackOperation<O extends 'update' | 'rollback' | 'down', R>(
  opts: RunOptions<R> & { projectName: string },
  type: O,
  project: string,
  hostSilenceSeconds: number | undefined,
  inputFor: (hosts: EveryHost) => OperationInputs[O],
  render: (result: R) => string,
): Promise<void> {
  const settings = temporalSettings();
  const workflowId = operationId(type, project);
  const connecting = await connectLight(settings);
  try {
    const light = await connecting.light;
    if (light && hostSilenceSeconds === undefined && (await connecting.registeredHosts) === 0) {
      if (await runLightOperation<R>(light, settings, opts, { type, workflowId, input: inputFor({}) }, render)) return;
    }
    const { startOperation } = await import('../client/typed-starts');
    await runOperation<R>(opts, async (client, taskQueue) => startOperation(client, type, { taskQueue, workflowId, input: inputFor(await everyHost(client, hostSilenceSeconds)) }), render);
  } finally {
    await connecting.close();
  }
}

/** With registered hosts, an operation on a project names them all; without, nothing is added (single-host mode). */
async function everyHost(client: import('@temporalio/client').WorkflowClient, hostSilenceSeconds?: number): Promise<{ hosts?: HostInfo[]; hostSilenceSeconds?: number }> {
  const { registeredHosts } = await import('../client/hosts');
  const registered = await registeredHosts(client);
  if (!registered.length && hostSilenceSeconds !== undefined) throw new UsageError('--host-timeout: no hosts are registered (start workers with dockflow worker --host NAME)');
  return registered.length ? { hosts: registered.map(({ name, labels }) => ({ name, labels })), ...(hostSilenceSeconds !== undefined ? { hostSilenceSeconds } : {}) } : {};
}

/**
 * With registered hosts, the deploy names them (and the default host); the
 * placement is checked here first, so a constraint no host satisfies exits 2
 * before anything starts. Without any, nothing is added: single-host mode.
 */
async function deployHosts(
  registered: HostInfo[],
  spec: StackSpec,
  host: string | undefined,
  hostSilenceSeconds: number | undefined,
): Promise<{ hosts?: HostInfo[]; host?: string; hostSilenceSeconds?: number }> {
  if (registered.length === 0) {
    if (host !== undefined) throw new UsageError(`--host ${host}: no hosts are registered (start workers with dockflow worker --host NAME)`);
    if (hostSilenceSeconds !== undefined) throw new UsageError('--host-timeout: no hosts are registered (start workers with dockflow worker --host NAME)');
    return {};
  }
  const { PlacementError, placeServices } = await import('../plan/placement');
  const hosts = registered.map(({ name, labels }) => ({ name, labels }));
  try {
    placeServices(spec, hosts, host);
  } catch (err) {
    if (err instanceof PlacementError) throw new UsageError(`project ${spec.project}: ${err.message}`);
    throw err;
  }
  return { hosts, ...(host !== undefined ? { host } : {}), ...(hostSilenceSeconds !== undefined ? { hostSilenceSeconds } : {}) };
}
