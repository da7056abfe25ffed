/**
 * `dockflow dev` (and `npm start`): everything on one machine with embedded
 * defaults. A Temporal dev server with its UI and a SQLite file under
 * .dockflow/, a worker, and optionally a deploy of the demo stack.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { startDevServer } from '../temporal/dev-server';
import { DEFAULT_TASK_QUEUE } from '../temporal/settings';
import { createDockflowWorker } from '../../workers/worker';
import { ensureBaseImage } from '../demo/base-image';
import { loadStack } from '../compose';
import { follow, startDeploy } from '../client/operations';
import { progressPrinter } from './render';
import type { DeployResult } from '../../workflows/deploy';
import { WorkflowClient } from '@temporalio/client';
import { AesGcmCodec, dataConverterFromEnv, keysFromEnv } from '../temporal/codec';
import { createCodecServer } from '../temporal/codec-server';
import { installMetricsRuntime } from '../temporal/metrics';

export interface DevOptions {
  demo: boolean;
  exitAfterDemo: boolean;
  stateDir: string;
  port: number;
  uiPort: number;
  /** Port of the codec server started when DOCKFLOW_ENCRYPTION_KEY(_FILE) is set, so the UI shows payloads in clear. */
  codecPort: number;
}

export const DEMO_COMPOSE_FILE = path.resolve(__dirname, '..', '..', 'examples', 'demo', 'docker-compose.yml');

export async function runDev(options: DevOptions): Promise<void> {
  fs.mkdirSync(options.stateDir, { recursive: true });
  const docker = new Docker();
  await docker.ping().catch((err: Error) => {
    throw new Error(`the Docker engine does not answer (${err.message}); start dockerd or set DOCKER_HOST`);
  });
  // Before any connection: the Temporal runtime (and its Prometheus exporter) is process-wide.
  const metrics = installMetricsRuntime();
  // Encrypted payloads: a loopback codec server for the UI, which the dev server points the UI at.
  const keys = keysFromEnv();
  let codecEndpoint: string | undefined;
  if (keys.length > 0) {
    const server = createCodecServer({ codec: new AesGcmCodec(keys), allowOrigin: [`http://127.0.0.1:${options.uiPort}`, `http://localhost:${options.uiPort}`] });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.codecPort, '127.0.0.1', resolve));
    server.unref();
    codecEndpoint = `http://127.0.0.1:${options.codecPort}`;
  }
  process.stderr.write('starting the Temporal dev server...\n');
  const env = await startDevServer({ dbFilename: path.join(options.stateDir, 'temporal.db'), port: options.port, uiPort: options.uiPort, uiCodecEndpoint: codecEndpoint });
  const { worker } = await createDockflowWorker({
    address: env.address,
    namespace: 'default',
    taskQueue: DEFAULT_TASK_QUEUE,
    connection: env.nativeConnection,
    docker,
    // The dev setup keeps its revision ledger beside its Temporal database.
    stateDir: process.env.DOCKFLOW_STATE_DIR || options.stateDir,
  });
  const running = worker.run();
  process.stderr.write(
    [
      `Temporal UI:      http://127.0.0.1:${options.uiPort}`,
      `Temporal address: ${env.address} (export TEMPORAL_ADDRESS=${env.address} for the CLI)`,
      ...(codecEndpoint ? [`codec server:     ${codecEndpoint} (payloads are encrypted; the UI decodes them through it)`] : []),
      ...(metrics ? [`metrics:          http://${metrics}/metrics`] : []),
      `worker polling task queue "${DEFAULT_TASK_QUEUE}"; Ctrl-C to stop`,
      '',
    ].join('\n'),
  );

  try {
    if (options.demo) {
      await ensureBaseImage(docker);
      const { spec } = loadStack({ files: [DEMO_COMPOSE_FILE] });
      // The worker's data converter: with a key, the demo's input and result are encrypted too.
      const client = new WorkflowClient({ connection: env.connection, namespace: 'default', dataConverter: dataConverterFromEnv() });
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
