/**
 * The `dockflow` command line. Flags follow docker compose where the concept
 * is the same (-f, -p, --profile, --env-file, --project-directory,
 * --remove-orphans, --dry-run, -d/--detach, -v/--volumes).
 */
import { Command, Option } from 'commander';
import * as path from 'node:path';
import Docker from 'dockerode';
import { loadStack, ComposeError } from '../compose';
import { temporalSettings } from '../temporal/settings';
import { connectClient, failureMessage, follow, startDeploy, startDown } from '../client/operations';
import { progressPrinter } from './render';
import { createDockerActivities } from '../../activities/docker';
import type { DeployResult } from '../../workflows/deploy';

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

function loadFromFlags(flags: ComposeFlags) {
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
    .option('-p, --project-name <name>', 'project name (default: name: in the file, else the directory name)')
    .option('--profile <profile>', 'enable a profile (repeatable)', collect)
    .option('--env-file <file>', 'environment file for interpolation (repeatable; default: .env in the project directory)', collect)
    .option('--project-directory <dir>', 'directory relative paths resolve against (default: the first file\'s directory)');
}

export function buildProgram(): Command {
  const program = new Command('dockflow')
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
  dockflow status -p shop
  dockflow down -p shop --volumes`,
    );

  program
    .command('dev')
    .description('run an embedded Temporal dev server (with UI, persisted under .dockflow/) and a worker')
    .option('--demo', 'deploy the example stack in examples/demo once the worker runs')
    .option('--exit-after-demo', 'stop everything after the demo deploy (for scripts)')
    .option('--state-dir <dir>', 'where the dev server keeps its SQLite database', '.dockflow')
    .option('--port <port>', 'Temporal gRPC port', '7233')
    .option('--ui-port <port>', 'Temporal UI port', '8233')
    .action(async (opts) => {
      const { runDev } = await import('./dev');
      await runDev({
        demo: Boolean(opts.demo),
        exitAfterDemo: Boolean(opts.exitAfterDemo),
        stateDir: path.resolve(opts.stateDir),
        port: Number(opts.port),
        uiPort: Number(opts.uiPort),
      });
    });

  program
    .command('worker')
    .description('run a worker for this Docker host (TEMPORAL_ADDRESS, DOCKFLOW_TASK_QUEUE, DOCKER_HOST)')
    .action(async () => {
      const { runWorkerProcess } = await import('../../workers/main');
      await runWorkerProcess();
    });

  composeOptions(program.command('deploy'))
    .description('create or update the stack so the host matches the compose files')
    .option('--dry-run', 'print the plan and change nothing')
    .option('-d, --detach', 'start the deploy and return its workflow ID without waiting')
    .option('--remove-orphans', 'remove containers of services that are no longer in the compose files')
    .option('--build', 'rebuild images of services that have a build: section')
    .option('--no-wait', 'do not wait for services with a healthcheck to become healthy')
    .addOption(new Option('--health-timeout <seconds>', 'upper bound for each health wait').argParser(Number))
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  dockflow deploy -f docker-compose.yml --profile ui\n  dockflow deploy -f compose.yml -f compose.prod.yml --remove-orphans --detach')
    .action(async (opts) => {
      const { spec } = loadFromFlags(opts);
      const settings = temporalSettings();
      const { client, close } = await connectClient(settings);
      try {
        const handle = await startDeploy(client, settings.taskQueue, spec.project, {
          spec,
          dryRun: Boolean(opts.dryRun),
          removeOrphans: Boolean(opts.removeOrphans),
          build: Boolean(opts.build),
          wait: opts.wait !== false,
          ...(opts.healthTimeout ? { healthTimeoutSeconds: opts.healthTimeout } : {}),
        });
        if (opts.detach) {
          out(opts.json, { workflowId: handle.workflowId }, handle.workflowId);
          return;
        }
        if (!opts.json) process.stderr.write(`${opts.dryRun ? 'planning' : 'deploying'} ${spec.project} (workflow ${handle.workflowId})\n`);
        const result = await follow<DeployResult>(handle, opts.json || opts.dryRun ? () => undefined : progressPrinter());
        out(opts.json, result, opts.dryRun ? result.plan : `${result.project}: ${result.operations} operation(s) applied\n${result.plan}`);
      } catch (err) {
        throw new OperationFailed(failureMessage(err));
      } finally {
        await close();
      }
    });

  program
    .command('status')
    .description('show the project\'s containers as the Docker host reports them')
    .requiredOption('-p, --project-name <name>', 'project name')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const docker = new Docker();
      const observed = await createDockerActivities({ docker }).observeProject(opts.projectName);
      const rows = observed.containers.map((c) => ({
        service: c.service,
        container: c.name,
        state: c.state,
        health: c.health ?? '',
        exitCode: c.exitCode,
        imageId: c.imageId.replace(/^sha256:/, '').slice(0, 12),
      }));
      const text = rows.length
        ? table(['SERVICE', 'CONTAINER', 'STATE', 'HEALTH', 'IMAGE'], rows.map((r) => [r.service, r.container, r.state + (r.exitCode !== undefined && r.state === 'exited' ? ` (${r.exitCode})` : ''), r.health, r.imageId]))
        : `no containers for project ${opts.projectName}`;
      out(opts.json, { project: opts.projectName, containers: rows, networks: observed.networks, volumes: observed.volumes }, text);
    });

  program
    .command('down')
    .description('remove the project\'s containers and networks')
    .requiredOption('-p, --project-name <name>', 'project name')
    .option('-v, --volumes', 'also remove the project\'s named volumes')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const settings = temporalSettings();
      const { client, close } = await connectClient(settings);
      try {
        const handle = await startDown(client, settings.taskQueue, { project: opts.projectName, volumes: Boolean(opts.volumes) });
        const result = await follow<{ removed: string[] }>(handle, opts.json ? () => undefined : progressPrinter());
        out(opts.json, result, result.removed.length ? `removed ${result.removed.join(', ')}` : `nothing to remove for ${opts.projectName}`);
      } catch (err) {
        throw new OperationFailed(failureMessage(err));
      } finally {
        await close();
      }
    });

  return program;
}

class OperationFailed extends Error {}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [headers, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
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

