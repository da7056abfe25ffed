/**
 * The `dockflow` command line. Flags follow docker compose where the concept
 * is the same (-f, -p, --profile, --env-file, --project-directory,
 * --remove-orphans, --dry-run, -d/--detach, -v/--volumes).
 */
import { Command, CommanderError, Option } from 'commander';
import * as path from 'node:path';
// Only what building the command tree needs is imported here: the Temporal client, dockerode,
// the compose loader (zod, yaml) and the worker cost about 0.7 s to load together, so each
// command loads its own with import() in its action, and `--help` or a usage error load none.
import { temporalSettings } from '../temporal/settings';
import type { UpdateResult } from '../../workflows/update';
import type { HistoryEntry, RollbackResult } from '../../workflows/rollback';
import { progressPrinter } from './render';
import type { Progress } from '../messages';
import type { HostInfo } from '../model/hosts';
import type { StackSpec } from '../model/spec';
import type { DeployResult } from '../../workflows/deploy';
import { registerBackupCommands } from './backup-commands';
import { DEST_HELP, destination } from './backup-shared';
import { registerScheduleCommands } from './schedule-commands';
import { registerOperatorCommands } from './operator-commands';
import { ErrorType, HOOK_CONTINUE_WARNING } from '../errors';
import { durationArg, portArg, positiveNumberArg, positiveWholeNumberArg, projectNameOption, ratioArg, wholeNumberArg } from './options';
import { workflowFailureJson, workflowResultJson } from './render';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Exit codes: 0 success, 1 the operation failed, 2 bad usage or input. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

function out(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

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

export function buildProgram(): Command {
  const program = new Command('dockflow')
    // Commander's errors (unknown option, missing argument, bad value) are thrown, not exited on,
    // so main() can give them exit code 2; subcommands inherit this when created below.
    .exitOverride()
    .description('Durable Docker Compose deployments as Temporal workflows')
    .addHelpText(
      'after',
      `
Environment:
  TEMPORAL_ADDRESS     Temporal frontend (default localhost:7233)
  TEMPORAL_NAMESPACE   namespace (default "default")
  DOCKFLOW_TASK_QUEUE  task queue of the worker on the target host (default "dockflow")
  DOCKER_HOST          Docker engine (default /var/run/docker.sock)

Examples:
  dockflow dev --demo                       embedded Temporal + UI + worker, deploys the demo stack
  dockflow deploy -f docker-compose.yml -f docker-compose.prod.yml
  dockflow deploy --dry-run                 print the plan, change nothing
  dockflow ps                               every project: revision, running operation, containers
  dockflow watch deploy-shop-20261122-120501-123
  dockflow setup                            register search attributes on an existing Temporal cluster
  dockflow down -p shop --volumes

Exit codes: 0 success, 1 the operation failed, 2 bad usage or input.
Colours only on a terminal, and never with NO_COLOR set.`,
    );

  program
    .command('dev')
    .description('run an embedded Temporal dev server (with UI, persisted under .dockflow/) and a worker')
    .option('--demo', 'deploy the example stack in examples/demo once the worker runs')
    .option('--exit-after-demo', 'stop everything after the demo deploy (for scripts)')
    .option('--state-dir <dir>', 'where the dev server keeps its SQLite database', '.dockflow')
    .addOption(new Option('--port <port>', 'Temporal gRPC port').argParser(portArg).default(7233))
    .addOption(new Option('--ui-port <port>', 'Temporal UI port').argParser(portArg).default(8233))
    .addOption(new Option('--codec-port <port>', 'port of the loopback codec server the UI decodes payloads through').argParser(portArg).default(8234))
    .option('--insecure-plain-payloads', "do not encrypt payloads: every environment value is then stored in clear in Temporal's history")
    .addOption(new Option('--hosts <n>', 'run N simulated Docker hosts host-1 … host-N (a private dockerd each, in its own network namespace; needs root) with a worker each, instead of this machine\'s engine').argParser(positiveWholeNumberArg))
    .addHelpText(
      'after',
      `
Payloads are encrypted: with DOCKFLOW_ENCRYPTION_KEY(_FILE) when set, else with a key created on first
start in <state-dir>/keys/encryption.key (mode 0600) and reused later. CLI commands started in the same
directory find it while this dev server runs on its port; elsewhere export the DOCKFLOW_ENCRYPTION_KEY_FILE it prints.

Examples:
  dockflow dev --demo                 what npm start runs
  dockflow dev --hosts 3              three simulated hosts, sockets under <state-dir>/hosts/<name>/docker.sock
  DOCKFLOW_STACKS_DIR=$PWD/stacks dockflow dev --ui-port 9233`,
    )
    .action(async (opts) => {
      const [{ keysFromEnv }, { runDev }] = await Promise.all([import('../temporal/codec'), import('./dev')]);
      if (opts.insecurePlainPayloads && keysFromEnv().length > 0) {
        throw new UsageError('--insecure-plain-payloads contradicts DOCKFLOW_ENCRYPTION_KEY(_FILE): unset the key or drop the flag');
      }
      const { MAX_DEV_HOSTS } = await import('./dev');
      if (opts.hosts !== undefined && opts.hosts > MAX_DEV_HOSTS) throw new UsageError(`--hosts: at most ${MAX_DEV_HOSTS} simulated hosts, not ${opts.hosts}`);
      if (opts.hosts !== undefined && opts.demo) throw new UsageError('--demo runs on one host (its port is published on this machine): drop --hosts, or deploy to the hosts with dockflow deploy');
      await runDev({
        demo: Boolean(opts.demo),
        exitAfterDemo: Boolean(opts.exitAfterDemo),
        stateDir: path.resolve(opts.stateDir),
        port: opts.port,
        uiPort: opts.uiPort,
        codecPort: opts.codecPort,
        insecurePlainPayloads: Boolean(opts.insecurePlainPayloads),
        hosts: opts.hosts,
      });
    });

  program
    .command('worker')
    .description('run a worker for this Docker host (TEMPORAL_ADDRESS, DOCKFLOW_TASK_QUEUE, DOCKER_HOST)')
    .addHelpText(
      'after',
      `
Worker environment:
  DOCKFLOW_STACKS_DIR        folders of named stacks, for {"stack": "<folder>"} inputs (Temporal UI, Schedules)
  DOCKFLOW_STATE_DIR         the revision ledger and default backup directory (default /var/lib/dockflow)
  DOCKFLOW_POLICY_FILE       what the worker allows beyond its default policy (README: Worker policy)
  DOCKFLOW_ENCRYPTION_KEY(_FILE)  encrypt payloads in Temporal's history
  DOCKFLOW_METRICS_ADDRESS   host:port to serve Prometheus metrics on
  DOCKFLOW_NOTIFY            notification targets, separated by spaces (README: Notifications)
  DOCKFLOW_NOTIFY_SECRET     the webhooks' HMAC-SHA256 signing secret (or #secret_file=/path per target)
Example:
  TEMPORAL_ADDRESS=temporal:7233 DOCKFLOW_STACKS_DIR=/srv/stacks DOCKFLOW_METRICS_ADDRESS=0.0.0.0:9464 dockflow worker
  DOCKFLOW_NOTIFY='https://hooks.example.com/dockflow slack+https://hooks.slack.com/services/T0/B0/XX#events=failed,cancelled' \
    DOCKFLOW_NOTIFY_SECRET="$(cat /run/secrets/hook)" dockflow worker`,
    )
    .option('--host <name>', 'this Docker host\'s name among several (DOCKFLOW_HOST): also poll <queue>@<name> for its Docker steps, and register it')
    .option('--label <key=value>', 'a label of this host, for node.labels.KEY placement constraints (repeatable; DOCKFLOW_HOST_LABELS="k=v,k2=v2")', collect)
    .action(async (opts: { host?: string; label?: string[] }) => {
      const [{ runWorkerProcess, hostFromEnv }, { NotifyConfigError }] = await Promise.all([import('../../workers/main'), import('../notify/targets')]);
      try {
        hostFromEnv(process.env, { host: opts.host, labels: opts.label });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      try {
        await runWorkerProcess(process.env, { host: opts.host, labels: opts.label });
      } catch (err) {
        // A bad DOCKFLOW_NOTIFY is bad input: exit 2 with the message naming the target and the part.
        if (err instanceof NotifyConfigError) throw new UsageError(err.message);
        throw err;
      }
    });

  program
    .command('hosts')
    .description('list the registered Docker hosts: labels, when their worker last polled, Docker version, projects')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const settings = temporalSettings();
      const [{ connectClient }, { hostStatuses }] = await Promise.all([import('../client/operations'), import('../client/hosts')]);
      const { client, close } = await connectClient(settings);
      try {
        const hosts = await hostStatuses(client.workflow, settings.taskQueue);
        const text = hosts.length
          ? hosts.map((h) => [
              `${h.name}  queue ${h.taskQueue}  last poll ${h.lastPoll ?? 'never'}`,
              `  labels: ${Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '(none)'}`,
              h.error ? `  not answering: ${h.error}` : `  docker ${h.dockerVersion}; projects: ${h.projects?.join(', ') || '(none)'}`,
            ].join('\n')).join('\n')
          : 'no hosts registered (single-host mode: start workers with --host NAME to use several)';
        out(Boolean(opts.json), { hosts }, text);
      } finally {
        await close();
      }
    });

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
      const [{ spec }, { startDeploy }, { isHostName, HOST_NAME_RULE }] = await Promise.all([loadFromFlags(opts), import('../client/operations'), import('../model/hosts')]);
      if (opts.host !== undefined && !isHostName(opts.host)) throw new UsageError(`--host: ${JSON.stringify(opts.host)} is not a valid host name: ${HOST_NAME_RULE}`);
      await runOperation<DeployResult>(
        { ...opts, quiet: opts.dryRun, announce: opts.dryRun ? 'planning' : 'deploying' },
        async (client, queue) =>
          startDeploy(client, queue, spec.project, {
            ...(await hostsForDeploy(client, spec, opts.host, opts.hostTimeout)),
            spec,
            dryRun: Boolean(opts.dryRun),
            removeOrphans: Boolean(opts.removeOrphans),
            build: Boolean(opts.build),
            wait: opts.wait !== false,
            waitForLock: Boolean(opts.waitLock),
            ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
            ...(opts.healthTimeout !== undefined ? { healthTimeoutSeconds: opts.healthTimeout } : {}),
          }),
        (r) => (r.dryRun ? (r.graph ?? r.plan) : `${r.project}: ${r.operations} operation(s) applied${r.hosts ? ` on ${[...new Set(Object.values(r.hosts))].sort().join(', ')}` : ''}, now at revision ${r.revision}\n${r.plan}${hookWarnings(r.warnings)}`),
      );
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
    .addOption(new Option('--host-timeout <seconds>', 'with several hosts: a host whose worker leaves one of its steps untaken this long counts as failed (default 60)').argParser(positiveWholeNumberArg))
    .option('-d, --detach', 'return the workflow ID without waiting')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow update -p shop web --image shop-web:2 --order start-first --monitor 10s\n  dockflow update -p shop worker --scale 4')
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
      const { startUpdate } = await import('../client/operations');
      await runOperation(opts, async (client, queue) =>
        startUpdate(client, queue, {
          ...(await everyHost(client, opts.hostTimeout)),
          project: opts.projectName,
          service,
          ...(opts.image ? { image: opts.image } : {}),
          ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
          rollout,
          waitForLock: Boolean(opts.wait),
          ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
        }),
        (r: UpdateResult) => `${r.project}: ${r.service} updated, now at revision ${r.revision}\n${r.plan}${hookWarnings(r.warnings)}`,
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
      const { startRollback } = await import('../client/operations');
      await runOperation(
        opts,
        async (client, queue) => startRollback(client, queue, {
            ...(await everyHost(client, opts.hostTimeout)),
            project: opts.projectName,
            waitForLock: Boolean(opts.wait),
            ...(opts.to !== undefined ? { to: opts.to } : {}),
            ...(opts.renewAnonVolumes ? { renewAnonVolumes: true } : {}),
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
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow history -p shop\n  dockflow history -p shop --json\n"data:" names the backup rollback --to N --with-data restores.')
    .action(async (opts) => {
      const { startHistory } = await import('../client/operations');
      await runOperation(
        // An object, not the bare list, so the JSON can name the workflow too.
        { ...opts, quiet: true, jsonOf: (entries: HistoryEntry[]) => ({ project: opts.projectName, revisions: entries }) },
        (client, queue) => startHistory(client, queue, { project: opts.projectName, ...(opts.dest !== undefined ? { destination: destination(opts.dest) } : {}) }),
        (entries: HistoryEntry[]) =>
          entries.length === 0
            ? `no revisions of ${opts.projectName} in the ledger`
            : entries
                .map((e) =>
                  [
                    `${String(e.number).padStart(3)}  ${e.createdAt}  ${e.operation}${e.restoredFrom ? ` (to ${e.restoredFrom})` : ''}  ${e.workflowId}`,
                    ...e.changes.map((c) => `       ${c}`),
                    ...(e.dataBackup ? [`       data: backup ${e.dataBackup.id} (${e.dataBackup.reason})`] : []),
                  ].join('\n'),
                )
                .join('\n'),
      );
    });

  program
    .command('cancel')
    .description('cancel a running operation (also possible from the Temporal UI)')
    .argument('<workflow-id>', 'the operation\'s workflow ID, as deploy -d or the UI shows it')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe operation undoes what it had changed; `dockflow watch ID` shows it finishing.\nExample:\n  dockflow cancel deploy-shop-20261122-120501-123')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const { connectClient, failureMessage } = await import('../client/operations');
      const settings = temporalSettings();
      const { client, close } = await connectClient(settings);
      try {
        await client.workflow.getHandle(workflowId).cancel();
        out(Boolean(opts.json), { workflowId, cancellationRequested: true }, `cancellation requested for ${workflowId}`);
      } catch (err) {
        throw new OperationFailed(failureMessage(err));
      } finally {
        await close();
      }
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
      const { startDown } = await import('../client/operations');
      await runOperation<{ removed: string[] }>(
        opts,
        async (client, queue) => startDown(client, queue, { ...(await everyHost(client)), project: opts.projectName, volumes: Boolean(opts.volumes), waitForLock: Boolean(opts.wait) }),
        (r) => (r.removed.length ? `removed ${r.removed.join(', ')}` : `nothing to remove for ${opts.projectName}`),
      );
    });

  registerBackupCommands(program);
  registerScheduleCommands(program);
  registerOperatorCommands(program);

  program
    .command('codec-server')
    .description('serve /encode and /decode for the Temporal UI, so it shows encrypted payloads in clear (DOCKFLOW_ENCRYPTION_KEY or DOCKFLOW_ENCRYPTION_KEY_FILE)')
    .addOption(new Option('--port <port>', 'port to listen on').argParser(portArg).default(8888))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--ui-origin <origin>', 'a Temporal UI origin allowed by CORS (repeatable)', collect)
    .option('--token-file <file>', 'file holding the bearer token every request must carry (default: DOCKFLOW_CODEC_TOKEN; one of them is required unless --host is loopback)')
    // Refused, not merely undocumented: a token on the command line is in every user's `ps`.
    .addOption(new Option('--token <token>').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  DOCKFLOW_ENCRYPTION_KEY_FILE=/etc/dockflow/key dockflow codec-server --ui-origin http://127.0.0.1:8233
    then in the UI: the glasses icon (Configure Codec Server) → http://127.0.0.1:8888,
    or start the UI with TEMPORAL_CODEC_ENDPOINT / temporal server start-dev --ui-codec-endpoint
  dockflow codec-server --host 0.0.0.0 --token-file /etc/dockflow/codec-token --ui-origin https://temporal.example.org
    behind a proxy that adds the token; a UI with "pass access token" sends its users' token instead
(dockflow dev starts its own, with its own key.)
`,
    )
    .action(async (opts: { port: number; host: string; uiOrigin?: string[]; token?: string; tokenFile?: string }) => {
      if (opts.token !== undefined) {
        throw new UsageError('--token is refused: a token on the command line is visible to every user of this machine (ps, /proc/<pid>/cmdline); set DOCKFLOW_CODEC_TOKEN or use --token-file <file>');
      }
      const [{ AesGcmCodec, keysFromEnv }, { createCodecServer, readCodecToken }] = await Promise.all([import('../temporal/codec'), import('../temporal/codec-server')]);
      const keys = keysFromEnv();
      let token: string | undefined;
      try {
        token = readCodecToken(opts.tokenFile, process.env);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (keys.length === 0) throw new UsageError('codec-server needs DOCKFLOW_ENCRYPTION_KEY or DOCKFLOW_ENCRYPTION_KEY_FILE');
      if (!token && !isLoopback(opts.host)) throw new UsageError(`codec-server on ${opts.host} needs DOCKFLOW_CODEC_TOKEN or --token-file: without a token, only loopback (127.0.0.1, ::1, localhost) is allowed`);
      const origins = opts.uiOrigin?.length ? opts.uiOrigin : ['http://127.0.0.1:8233', 'http://localhost:8233'];
      const server = createCodecServer({ codec: new AesGcmCodec(keys), token, allowOrigin: origins });
      server.listen(opts.port, opts.host, () => console.log(`codec server on http://${opts.host}:${opts.port} for ${origins.join(', ')}${token ? ' (bearer token required)' : ''}`));
      await new Promise<void>(() => undefined);
    });
  return program;
}

class OperationFailed extends Error {}

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
async function hostsForDeploy(
  client: import('@temporalio/client').WorkflowClient,
  spec: StackSpec,
  host: string | undefined,
  hostSilenceSeconds: number | undefined,
): Promise<{ hosts?: HostInfo[]; host?: string; hostSilenceSeconds?: number }> {
  const [{ registeredHosts }, { PlacementError, placeServices }] = await Promise.all([import('../client/hosts'), import('../plan/placement')]);
  const registered = await registeredHosts(client);
  if (registered.length === 0) {
    if (host !== undefined) throw new UsageError(`--host ${host}: no hosts are registered (start workers with dockflow worker --host NAME)`);
    if (hostSilenceSeconds !== undefined) throw new UsageError('--host-timeout: no hosts are registered (start workers with dockflow worker --host NAME)');
    return {};
  }
  const hosts = registered.map(({ name, labels }) => ({ name, labels }));
  try {
    placeServices(spec, hosts, host);
  } catch (err) {
    if (err instanceof PlacementError) throw new UsageError(`project ${spec.project}: ${err.message}`);
    throw err;
  }
  return { hosts, ...(host !== undefined ? { host } : {}), ...(hostSilenceSeconds !== undefined ? { hostSilenceSeconds } : {}) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Start a workflow, follow its progress unless detached, print its result.
 * With --json every outcome (detached, completed, failed) names the workflow
 * (workflowId, runId), so a script can go on with watch, history or cancel.
 */
async function runOperation<R>(
  opts: { detach?: boolean; json?: boolean; quiet?: boolean; announce?: string; jsonOf?: (result: R) => object },
  start: (client: import('@temporalio/client').WorkflowClient, taskQueue: string) => Promise<import('@temporalio/client').WorkflowHandleWithFirstExecutionRunId>,
  render: (result: R) => string,
): Promise<void> {
  const { connectClient, failureMessage, failureTypeOf, follow } = await import('../client/operations');
  const settings = temporalSettings();
  const { client, close } = await connectClient(settings);
  try {
    const handle = await start(client.workflow, settings.taskQueue);
    if (opts.detach) {
      out(Boolean(opts.json), workflowResultJson(handle, {}), handle.workflowId);
      return;
    }
    if (opts.announce && !opts.json) process.stderr.write(`${opts.announce} (workflow ${handle.workflowId})\n`);
    let last: Progress | undefined;
    // With nothing to print (--json, --quiet), no progress queries: each is a workflow task on the
    // worker, and the one after the workflow closed replays its whole history (0.35-0.5 s under load).
    const watching = !(opts.json || opts.quiet);
    const printer = watching ? progressPrinter() : () => undefined;
    let result: R;
    try {
      result = watching
        ? await follow<R>(handle, (p) => {
            last = p;
            printer(p);
          })
        : ((await handle.result()) as R);
    } catch (err) {
      if (!watching) {
        // Only a failure needs the last progress: a cancelled operation reports there what it undid.
        const { progressQuery } = await import('../messages');
        last = await handle.query(progressQuery).catch(() => undefined);
      }
      // Cancelled operations report what they undid in their final progress phase.
      const cancelled = last?.phase.includes('was cancelled') ?? false;
      const message = cancelled ? last!.phase : failureMessage(err);
      if (opts.json) out(true, await workflowFailureJson(handle, err, message), '');
      // Input the worker refused before touching anything (e.g. update --scale on a container_name service) is bad input: exit 2.
      if (!cancelled && failureTypeOf(err) === ErrorType.invalidSpec) throw new UsageError(message);
      throw new OperationFailed(message);
    }
    out(Boolean(opts.json), workflowResultJson(handle, opts.jsonOf ? opts.jsonOf(result) : result), render(result));
  } catch (err) {
    if (err instanceof OperationFailed || err instanceof UsageError) throw err;
    throw new OperationFailed(failureMessage(err));
  } finally {
    await close();
  }
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    // Commander has already printed its message (unknown option, missing argument, bad value: usage errors).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof OperationFailed) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILED;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}

