/**
 * `dockflow dev` (and `npm start`): everything on one machine with embedded
 * defaults. A Temporal dev server with its UI and a SQLite file under
 * .dockflow/, a worker, and optionally a deploy of the demo stack.
 *
 * Secure by default: every payload is encrypted (with
 * DOCKFLOW_ENCRYPTION_KEY(_FILE) when set, else with a key created once under
 * the state dir), the UI decodes through a loopback codec server, and CLI
 * commands run from the same directory find the key (src/temporal/dev-key.ts).
 *
 * With `hosts` (`dockflow dev --hosts N`): N simulated Docker hosts `host-1`
 * … `host-N` instead of the machine's engine (src/dev/simulated-hosts.ts), a
 * worker per host, and the stack operations spread over them by placement.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createDockerClient } from '../../workers/docker-client';
import { startDevServer } from '../temporal/dev-server';
import { DEFAULT_TASK_QUEUE } from '../temporal/settings';
import { createDockflowWorker } from '../../workers/worker';
import { BASE_IMAGE, ensureBaseImage } from '../demo/base-image';
import { loadStack } from '../compose';
import { follow, startDeploy } from '../client/operations';
import { progressPrinter } from './render';
import type { DeployResult } from '../../workflows/deploy';
import { WorkflowClient } from '@temporalio/client';
import { AesGcmCodec, dataConverterForKeys, keysFromEnv, type EncryptionKey } from '../temporal/codec';
import { devKeyFile, ensureDevKey, loopbackPort, writeDevServerRecord } from '../temporal/dev-key';
import { createCodecServer } from '../temporal/codec-server';
import { installMetricsRuntime } from '../temporal/metrics';
import { packageRoot } from '../files/package-root';
import { loadImages, numberedHosts, startSimulatedHosts, stopSimulatedHosts, type SimulatedHost } from '../dev/simulated-hosts';
import { startHostWorkers, type HostWorkers } from '../../workers/host-workers';
import { registeredHosts } from '../client/hosts';
import { hostRegistrationId, hostTaskQueue } from '../model/hosts';
import type Docker from 'dockerode';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

export interface DevOptions {
  demo: boolean;
  exitAfterDemo: boolean;
  stateDir: string;
  port: number;
  uiPort: number;
  /** Port of the loopback codec server the UI decodes payloads through. */
  codecPort: number;
  /** Write plain payloads (no encryption): Temporal's history then holds every environment value in clear. */
  insecurePlainPayloads?: boolean;
  /** Simulated Docker hosts to run (`--hosts N`); 0 or absent: the machine's engine, one host. */
  hosts?: number;
}

/** At most this many simulated hosts: each is a dockerd with its containerd (about 120 MB resident, seconds to start). */
export const MAX_DEV_HOSTS = 20;

interface PayloadProtection {
  /** Keys the worker and the codec server hold; with `encrypt` false they only decode. */
  keys: EncryptionKey[];
  encrypt: boolean;
  /** The key file CLI commands can use (DOCKFLOW_ENCRYPTION_KEY_FILE), when there is one. */
  keyFile?: string;
  /** What the start banner says about payloads. */
  banner: string[];
}

/**
 * How this dev process protects payloads. A key from the environment wins;
 * else the state dir's key, created on first start; --insecure-plain-payloads
 * writes plain payloads (and still decodes with an existing dev key, so a CLI
 * that kept an exported key is understood).
 */
function payloadProtection(options: DevOptions): PayloadProtection {
  const configured = keysFromEnv();
  if (options.insecurePlainPayloads) {
    const file = devKeyFile(options.stateDir);
    const keys = configured.length ? configured : fs.existsSync(file) ? keysFromEnv({ DOCKFLOW_ENCRYPTION_KEY_FILE: file }) : [];
    return {
      keys,
      encrypt: false,
      banner: [
        'payloads:         PLAIN (--insecure-plain-payloads): every environment value of every stack is stored in',
        "                  clear in Temporal's history, readable by anyone with access to this dev server",
      ],
    };
  }
  if (configured.length) {
    const keyFile = process.env.DOCKFLOW_ENCRYPTION_KEY || !process.env.DOCKFLOW_ENCRYPTION_KEY_FILE ? undefined : path.resolve(process.env.DOCKFLOW_ENCRYPTION_KEY_FILE);
    return { keys: configured, encrypt: true, keyFile, banner: [`payloads:         encrypted with ${keyFile ?? 'DOCKFLOW_ENCRYPTION_KEY'}`] };
  }
  const devKey = ensureDevKey(options.stateDir);
  return {
    keys: devKey.keys,
    encrypt: true,
    keyFile: devKey.file,
    banner: [
      `payloads:         encrypted with ${devKey.file} (${devKey.created ? 'created now' : 'reused'})`,
      `                  CLI commands from this directory find it; elsewhere: export DOCKFLOW_ENCRYPTION_KEY_FILE=${devKey.file}`,
    ],
  };
}

export const DEMO_COMPOSE_FILE = path.join(packageRoot(), 'examples', 'demo', 'docker-compose.yml');

export async function runDev(options: DevOptions): Promise<void> {
  fs.mkdirSync(options.stateDir, { recursive: true });
  // The worker's client (below): one connection per request, see workers/docker-client.ts.
  const docker = createDockerClient();
  await docker.ping().catch((err: Error) => {
    throw new Error(`the Docker engine does not answer (${err.message}); start dockerd or set DOCKER_HOST`);
  });
  // Before any connection: the Temporal runtime (and its Prometheus exporter) is process-wide.
  const metrics = installMetricsRuntime();
  const protection = payloadProtection(options);
  const dataConverter = dataConverterForKeys(protection.keys, { encrypt: protection.encrypt });
  // A loopback codec server for the UI, which the dev server points the UI at.
  let codecEndpoint: string | undefined;
  if (protection.keys.length > 0) {
    const server = createCodecServer({ codec: new AesGcmCodec(protection.keys, { encrypt: protection.encrypt }), allowOrigin: [`http://127.0.0.1:${options.uiPort}`, `http://localhost:${options.uiPort}`] });
    await new Promise<void>((resolve, reject) =>
      server
        .once('error', (err: NodeJS.ErrnoException) =>
          reject(err.code === 'EADDRINUSE' ? new Error(`the codec server's port ${options.codecPort} is taken; choose another with --codec-port`) : err),
        )
        .listen(options.codecPort, '127.0.0.1', resolve),
    );
    server.unref();
    codecEndpoint = `http://127.0.0.1:${options.codecPort}`;
  }
  process.stderr.write('starting the Temporal dev server...\n');
  const env = await startDevServer({ dbFilename: path.join(options.stateDir, 'temporal.db'), port: options.port, uiPort: options.uiPort, uiCodecEndpoint: codecEndpoint });
  if (options.hosts) {
    await runDevHosts(options, docker, env, dataConverter, protection, metrics, codecEndpoint);
    return;
  }
  const { worker } = await createDockflowWorker({
    address: env.address,
    namespace: 'default',
    taskQueue: DEFAULT_TASK_QUEUE,
    connection: env.nativeConnection,
    docker,
    dataConverter,
    // The dev setup keeps its revision ledger beside its Temporal database.
    stateDir: process.env.DOCKFLOW_STATE_DIR || options.stateDir,
  });
  const running = worker.run();
  // Hosts an earlier `dev --hosts N` registered would draw the CLI's deploys to workers that are gone.
  const gone = await forgetOtherHosts(new WorkflowClient({ connection: env.connection, namespace: 'default', dataConverter }), new Set()).catch((err: Error) => {
    process.stderr.write(`could not look for hosts an earlier dev --hosts registered (${err.message}); \`dockflow hosts\` lists them\n`);
    return [] as string[];
  });
  announceDevServer(options, env.address, protection, codecEndpoint, metrics, [
    ...(gone.length ? [`forgot hosts no longer simulated: ${gone.join(', ')} (one host: this machine's engine)`] : []),
    `worker polling task queue "${DEFAULT_TASK_QUEUE}"; Ctrl-C to stop`,
  ]);

  try {
    if (options.demo) {
      await ensureBaseImage(docker);
      const { spec } = loadStack({ files: [DEMO_COMPOSE_FILE] });
      // The worker's data converter: the demo's input and result are encrypted like everything else.
      const client = new WorkflowClient({ connection: env.connection, namespace: 'default', dataConverter });
      const handle = await startDeploy(client, DEFAULT_TASK_QUEUE, spec.project, { spec });
      process.stderr.write(`deploying demo stack "${spec.project}" (workflow ${handle.workflowId}); watch it in the UI\n`);
      const result = await follow<DeployResult>(handle, progressPrinter());
      process.stderr.write(`demo deployed: ${Object.values(result.services).flat().join(', ')}\n`);
      process.stderr.write(`open http://127.0.0.1:${process.env.DEMO_WEB_PORT ?? '8080'}/ to see it; \`dockflow status -p ${spec.project}\` lists it\n`);
    }
    if (!options.exitAfterDemo) await running;
  } finally {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await env.teardown();
  }
}

/**
 * `dockflow dev --hosts N`: the simulated hosts, a worker per host (host-1's
 * also runs the workflows, as any host's worker process does), until Ctrl-C,
 * which stops the workers and then the hosts' daemons (their containers stop
 * with them; their images, volumes and ledgers stay for the next start).
 *
 * Images: the machine's engine is the simulated hosts' registry (a pull on a
 * host loads the image from it when it has it); dockflow's base image is
 * loaded into every host at start, so a build FROM it works on any host.
 */
async function runDevHosts(
  options: DevOptions,
  docker: Docker,
  env: TestWorkflowEnvironment,
  dataConverter: DataConverter | undefined,
  protection: PayloadProtection,
  metrics: string | undefined,
  codecEndpoint: string | undefined,
): Promise<void> {
  let hosts: SimulatedHost[] = [];
  let workers: HostWorkers | undefined;
  try {
    await ensureBaseImage(docker);
    process.stderr.write(`starting ${options.hosts} simulated Docker hosts...\n`);
    hosts = await startSimulatedHosts(options.stateDir, numberedHosts(options.hosts!), { registry: docker, clientFor: (socketPath) => createDockerClient({ socketPath }) });
    for (const host of hosts) await loadImages(docker, host.docker, [BASE_IMAGE]);
    workers = await startHostWorkers(
      { address: env.address, namespace: 'default', taskQueue: DEFAULT_TASK_QUEUE, connection: env.nativeConnection, ...(dataConverter ? { dataConverter } : {}) },
      hosts,
    );
    const client = new WorkflowClient({ connection: env.connection, namespace: 'default', dataConverter });
    const gone = await forgetOtherHosts(client, new Set(hosts.map((h) => h.name)));
    announceDevServer(options, env.address, protection, codecEndpoint, metrics, [
      ...hosts.map((h) => `${h.name}:${' '.repeat(Math.max(1, 17 - h.name.length))}DOCKER_HOST=unix://${h.daemon.socketPath}, worker on "${hostTaskQueue(DEFAULT_TASK_QUEUE, h.name)}"`),
      ...(gone.length ? [`forgot hosts no longer simulated: ${gone.join(', ')}`] : []),
      `workers polling task queue "${DEFAULT_TASK_QUEUE}" and one queue per host; Ctrl-C to stop`,
    ]);
    await workers.settled();
  } finally {
    await workers?.stopAll();
    await stopSimulatedHosts(hosts);
    await env.teardown();
  }
}

/**
 * The dev server is ready: record it where CLI commands started in this
 * directory find its port and key (src/temporal/dev-key.ts), then tell the
 * user where everything is, ending with the lines of this kind of run.
 */
function announceDevServer(
  options: DevOptions,
  address: string,
  protection: PayloadProtection,
  codecEndpoint: string | undefined,
  metrics: string | undefined,
  closingLines: string[],
): void {
  writeDevServerRecord(options.stateDir, { port: loopbackPort(address) ?? options.port, ...(protection.encrypt && protection.keyFile ? { keyFile: protection.keyFile } : {}) });
  process.stderr.write(
    [
      `Temporal UI:      http://127.0.0.1:${options.uiPort}`,
      `Temporal address: ${address} (export TEMPORAL_ADDRESS=${address} for the CLI)`,
      ...protection.banner,
      ...(codecEndpoint ? [`codec server:     ${codecEndpoint} (the UI decodes payloads through it)`] : []),
      ...(metrics ? [`metrics:          http://${metrics}/metrics`] : []),
      ...closingLines,
      '',
    ].join('\n'),
  );
}

/**
 * End the registration of every host this dev server knows but does not
 * simulate now (an earlier `--hosts 3` followed by `--hosts 2`): a deploy
 * would otherwise place services on a host no worker serves, and wait for it.
 */
async function forgetOtherHosts(client: WorkflowClient, keep: Set<string>): Promise<string[]> {
  const gone: string[] = [];
  for (const host of await registeredHosts(client)) {
    if (keep.has(host.name)) continue;
    await client.getHandle(hostRegistrationId(host.name)).terminate('dockflow dev: this host is no longer simulated');
    gone.push(host.name);
  }
  return gone;
}
