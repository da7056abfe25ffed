/**
 * The integration test bed: a real Temporal dev server (the CLI binary the
 * test bed built) and the real Docker engine. Nothing here is mocked.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DataConverter } from '@temporalio/common';
import { FAILURE_CONVERTER_PATH } from '../../src/temporal/codec';
import { startDevServer } from '../../src/temporal/dev-server';
import { createDockflowWorker, workflowBundleOptions } from '../../workers/worker';
import { Label } from '../../src/model/labels';
import type { NotifyTarget } from '../../src/notify/targets';
import { ensureBaseImage } from '../../src/demo/base-image';
import { demuxLogs } from '../../activities/docker';
export { BASE_IMAGE as TEST_IMAGE } from '../../src/demo/base-image';

// Expected failures (the tests provoke them) would otherwise fill the output with WARN stack traces.
Runtime.install({ logger: new DefaultLogger(process.env.DOCKFLOW_TEST_LOG_LEVEL === 'debug' ? 'DEBUG' : 'ERROR') });

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Every project directory the tests create (projectDir) lies here, and the
 * test workers' policy names it as a project root: a worker recognises only
 * the project directories its operator configured (src/policy/policy.ts), so
 * the test bed configures its workers like an operator would, explicitly.
 */
export const TEST_PROJECTS_ROOT = path.join(os.tmpdir(), 'dockflow-it-projects');

/** A policy file with the test projects' root and `extra` lines under `allow:`; returns its path. */
export function writeTestPolicy(extra: string[] = [], projectRoots: string[] = [TEST_PROJECTS_ROOT]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-policy-'));
  const file = path.join(dir, 'policy.yml');
  fs.writeFileSync(file, ['allow:', `  project_roots: [${projectRoots.map((r) => JSON.stringify(r)).join(', ')}]`, ...extra.map((l) => `  ${l}`), ''].join('\n'));
  return file;
}

/**
 * The policy of every worker the tests start, in process (the policy
 * activity reads DOCKFLOW_POLICY_FILE at each check) or as a child process
 * (which inherits it). A test that needs another policy sets its own.
 */
export const TEST_POLICY_FILE = writeTestPolicy();
process.env.DOCKFLOW_POLICY_FILE = TEST_POLICY_FILE;

export async function dockerOrFail(): Promise<Docker> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`the Docker engine does not answer (${(err as Error).message}); run scripts/testbed.sh first`);
  }
  return docker;
}

export interface TestBed {
  docker: Docker;
  env: TestWorkflowEnvironment;
  address: string;
  bundlePath: string;
  taskQueue: string;
  /** The revision ledger's directory for this test bed's workers. */
  stateDir: string;
  teardown(): Promise<void>;
}

const bundleCache = new Map<string, Promise<string>>();

/**
 * Bundle the workflows once per test process; child workers load the same
 * file. `encrypted`: the bundle also carries the failure converter that
 * moves failure messages into encrypted payloads (src/temporal/codec.ts).
 */
export function workflowBundlePath(options: { encrypted?: boolean } = {}): Promise<string> {
  const key = options.encrypted ? 'encrypted' : 'plain';
  let cached = bundleCache.get(key);
  if (!cached) {
    cached = (async () => {
      const { code } = await bundleWorkflowCode({ ...workflowBundleOptions(), ...(options.encrypted ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}), logger: quietLogger });
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `dockflow-bundle-${key}-`)), 'workflows.js');
      fs.writeFileSync(file, code);
      return file;
    })();
    bundleCache.set(key, cached);
  }
  return cached;
}

const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };

export async function startTestBed(taskQueue: string, options: { dbFilename?: string; stateDir?: string; uiPort?: number; uiCodecEndpoint?: string } = {}): Promise<TestBed> {
  const docker = await dockerOrFail();
  await ensureBaseImage(docker);
  const env = await startDevServer({ dbFilename: options.dbFilename, uiPort: options.uiPort, uiCodecEndpoint: options.uiCodecEndpoint });
  const address = env.address;
  const bundlePath = await workflowBundlePath();
  return {
    docker,
    env,
    address,
    bundlePath,
    taskQueue,
    stateDir: options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-state-')),
    teardown: () => env.teardown(),
  };
}

/**
 * An in-process worker; stop it with the returned function. With a data
 * converter (e.g. `dataConverterFromEnv({ DOCKFLOW_ENCRYPTION_KEY })`) it
 * encrypts payloads and failures like a worker with a key.
 */
export async function startWorker(bed: TestBed, options: { dataConverter?: DataConverter; notify?: readonly NotifyTarget[] } = {}): Promise<() => Promise<void>> {
  const { worker } = await createDockflowWorker({
    address: bed.address,
    namespace: 'default',
    taskQueue: bed.taskQueue,
    connection: bed.env.nativeConnection,
    docker: bed.docker,
    workflowBundlePath: options.dataConverter ? await workflowBundlePath({ encrypted: true }) : bed.bundlePath,
    stateDir: bed.stateDir,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    // Test workers notify nobody unless a test says so, whatever DOCKFLOW_NOTIFY the shell has.
    notify: options.notify ?? [],
  });
  const running = worker.run();
  return async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
}

export type { Worker };

/** A worker in its own process, so a test can SIGKILL it like a crashing host. */
export function spawnWorker(bed: TestBed, env: Record<string, string> = {}): Promise<ChildProcess> {
  return spawnPolling([path.join(REPO_ROOT, 'workers', 'main.ts')], { cwd: REPO_ROOT, env: { ...bedWorkerEnv(bed), ...env }, tsx: true });
}

/** What a worker process of the test bed is told: its Temporal, task queue, prepared bundle and state dir. */
export function bedWorkerEnv(bed: TestBed): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: bed.address,
    TEMPORAL_NAMESPACE: 'default',
    DOCKFLOW_TASK_QUEUE: bed.taskQueue,
    DOCKFLOW_WORKFLOW_BUNDLE: bed.bundlePath,
    DOCKFLOW_STATE_DIR: bed.stateDir,
  };
}

/**
 * Spawns `node [--import tsx] <args>` and resolves once it says it polls its
 * task queue (every worker's log line at start). Rejects, with what it
 * printed, when it exits first or does not poll within `timeoutMs`.
 */
export async function spawnPolling(
  args: string[],
  { cwd, env, tsx = false, timeoutMs = 60_000, label = 'worker' }: { cwd: string; env: Record<string, string>; tsx?: boolean; timeoutMs?: number; label?: string },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(tsx ? ['--import', 'tsx'] : []), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('polling task queue')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code} before polling:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Remove everything labelled with the project, whatever state a test left it in. */
export async function removeProject(docker: Docker, project: string): Promise<void> {
  const filters = { label: [`${Label.project}=${project}`] };
  for (const c of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  }
  for (const n of await docker.listNetworks({ filters })) {
    await docker.getNetwork(n.Id).remove().catch(() => undefined);
  }
  const volumes = await docker.listVolumes({ filters });
  for (const v of volumes.Volumes ?? []) await docker.getVolume(v.Name).remove({ force: true }).catch(() => undefined);
}

/** The image tags the revision ledger put on a project's images (`dockflow-revision/<project>-<service>:r<N>`). */
export async function revisionTags(bed: Pick<TestBed, 'docker'>, project: string): Promise<string[]> {
  const images = await bed.docker.listImages({ filters: { reference: [`dockflow-revision/${project}-*`] } });
  return images.flatMap((i) => i.RepoTags ?? []).filter((t) => t.startsWith(`dockflow-revision/${project}-`));
}

export async function projectContainers(docker: Docker, project: string): Promise<Docker.ContainerInfo[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`] } });
  return list.sort((a, b) => a.Names[0].localeCompare(b.Names[0]));
}

export function nameOf(c: Docker.ContainerInfo): string {
  return c.Names[0].replace(/^\//, '');
}

/** A throw-away project directory with the given files, in the test workers' project root. */
export function projectDir(name: string, files: Record<string, string>): string {
  fs.mkdirSync(TEST_PROJECTS_ROOT, { recursive: true });
  const dir = path.join(fs.mkdtempSync(path.join(TEST_PROJECTS_ROOT, 'dockflow-it-')), name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Run a command in a running container and return its output (stdout and stderr). */
export async function execIn(docker: Docker, container: string, cmd: string[]): Promise<string> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  return demuxLogs(Buffer.concat(chunks));
}

/** Build a small image from a Dockerfile text (FROM an image already on the host). */
export async function buildImage(docker: Docker, tag: string, dockerfile: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-img-'));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  const stream = await docker.buildImage({ context: dir, src: ['Dockerfile'] }, { t: tag });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) =>
      err || out.find((o) => o.error) ? reject(err ?? new Error(JSON.stringify(out))) : resolve(),
    ),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return (await docker.getImage(tag).inspect()).Id;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `dockflow` command in its own process, as a user runs it (colours off), in `cwd` (default the repository). */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 240_000, cwd = REPO_ROOT): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dockflow ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
