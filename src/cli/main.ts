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
import { TemporalSettingsError, temporalSettings } from '../temporal/settings';
import { registerStackCommands } from './stack-commands';
import { registerBackupCommands } from './backup-commands';
import { registerScheduleCommands } from './schedule-commands';
import { registerOperatorCommands } from './operator-commands';
import { collect, positiveWholeNumberArg, portArg } from './options';
import { OperationFailed, UsageError, out } from './run-operation';

/** Exit codes: 0 success, 1 the operation failed, 2 bad usage or input. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

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
  DOCKFLOW_TEMPORAL_TLS_CA, _TLS_CERT, _TLS_KEY, _TLS_SERVER_NAME, _API_KEY
                       TLS, mTLS and API key towards Temporal (or the temporal CLI's
                       TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, ..., TEMPORAL_API_KEY)
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
        if (err instanceof NotifyConfigError || err instanceof TemporalSettingsError) throw new UsageError(err.message);
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
  registerStackCommands(program);
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    // Commander has already printed its message (unknown option, missing argument, bad value: usage errors).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    // A TLS or API key setting that cannot work (src/temporal/settings.ts): bad input, found before connecting.
    if (err instanceof UsageError || err instanceof TemporalSettingsError) {
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
