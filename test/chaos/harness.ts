/**
 * Chaos harness: runs dockflow operations against a real Docker engine and
 * a real Temporal dev server (persisted to SQLite) while injecting faults at
 * seeded random moments, then checks invariants on the host, not on logs.
 *
 * Faults: SIGKILL of the worker process (a new one is started), a restart of
 * the Temporal dev server on the same database and port, and a restart of
 * dockerd. The engine is a private dockerd (./daemon.ts), so restarting it
 * stops nothing but the chaos project.
 * Operations: deploys that roll a new release start-first (with a pre_deploy
 * and a post_deploy hook), rollbacks to the previous revision, backups (stopping the data service), restores of the
 * newest backup, and migrations that increment a counter in a volume.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadStack } from '../../src/compose';
import { startDevServer } from '../../src/temporal/dev-server';
import { createLedgerActivities } from '../../activities/ledger';
import { HELPER_LABEL, ONE_OFF_LABEL } from '../../activities/backup';
import { hookContainerName } from '../../src/backup/ids';
import { Label } from '../../src/model/labels';
import { freePort, killHard, nameOf, projectContainers, projectDir, removeProject, spawnWorker, workflowBundlePath, type TestBed } from '../support/harness';
import { ensureBaseImage } from '../../src/demo/base-image';
import { startChaosDaemon } from './daemon';

export const FAULT_KINDS = ['worker-kill', 'server-restart', 'dockerd-restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const OPERATIONS = ['deploy', 'rollback', 'backup', 'restore', 'migrate'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface RunResult {
  run: number;
  operation: Operation;
  fault: FaultKind;
  faultAtMs: number;
  outcome: 'completed' | 'failed';
  /** Why it failed, when it did (a clean failure is allowed; a half-applied host is not). */
  failure?: string;
  seconds: number;
  /** Invariants that did not hold on the host afterwards. */
  violations: string[];
  /**
   * When there were violations: what the host and the workflow looked like, enough to
   * diagnose a CI failure from its output alone (each bad container's state, the
   * workflow's activity timeline, the chaos dockerd's log lines about those containers).
   */
  diagnostics: string[];
  /** When there were violations: whether redeploying the model's release put the host right before the next run. */
  repaired?: boolean;
}

/** mulberry32: a small seeded generator, so a seed reproduces a run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROJECT = 'chaos';
const TASK_QUEUE = 'chaos';
const EXPECTED_CONTAINERS = [`${PROJECT}-app-1`, `${PROJECT}-db-1`, `${PROJECT}-slowstop-1`, `${PROJECT}-web-1`, `${PROJECT}-web-2`];

/** The migration: increments a counter in the data volume, then takes a while, so faults land inside it. */
const MIGRATION = ['sh', '-c', 'n=$(cat /data/counter 2>/dev/null || echo 0); echo $((n + 1)) > /data/counter; sleep 2'];

/**
 * The stack runs with `restart: unless-stopped`, as our users' stacks do: a
 * daemon restart between two operations then brings it back by itself, and
 * what the harness tests is what dockflow does while an operation runs.
 *
 * `slowstop` ignores SIGTERM, so every daemon shutdown lasts its stop grace
 * period, as one does when it signals a container that is still starting (CI
 * saw a 10 s one). A stopping daemon still serves connections it had already
 * accepted: an operation must not go on against it (see
 * workers/docker-client.ts). It has no release in its environment, so deploys
 * and rollbacks leave it alone and only the daemon's shutdown waits for it.
 */
/** How long every daemon shutdown lasts: slowstop's stop grace period. */
const SLOW_STOP_SECONDS = 6;

const compose = (release: number) => `
name: ${PROJECT}
services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ${release} > /www/index.html; sleep 1; exec httpd -f -p 80 -h /www"]
    init: true
    restart: unless-stopped
    environment: {RELEASE: "${release}"}
    deploy:
      replicas: 2
      update_config: {order: start-first}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      timeout: 1s
      retries: 10
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
    environment: {RELEASE: "${release}"}
    depends_on:
      web: {condition: service_healthy}
  db:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
    environment: {RELEASE: "${release}"}
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
  slowstop:
    image: dockflow/busybox:1
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    restart: unless-stopped
    stop_grace_period: ${SLOW_STOP_SECONDS}s
x-dockflow:
  hooks:
    pre_deploy: {service: app, command: ["sleep", "2"]}
    post_deploy: {service: app, command: ["sleep", "1"]}
volumes:
  data: {}
`;

export interface ChaosOptions {
  seed: number;
  runs: number;
  log?: (line: string) => void;
  /** Inject only this fault (default: the three kinds take turns). */
  fault?: FaultKind;
  /** Run only this operation (default: the seed picks). The seed still draws the same numbers. */
  operation?: Operation;
  /**
   * Called once a run's operation ended, before the host is judged: a way to damage the host
   * on purpose, to check the harness's own diagnostics and repair (never in the chaos test).
   */
  interfere?: (docker: Docker, run: number) => Promise<void>;
}

export async function runChaos({ seed, runs, log = () => undefined, fault: onlyFault, operation: onlyOperation, interfere }: ChaosOptions): Promise<RunResult[]> {
  const random = seededRandom(seed);
  const daemon = await startChaosDaemon();
  const docker = daemon.docker;
  // Workers are child processes that inherit this environment: they drive the chaos daemon.
  const previousDockerHost = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = `unix://${daemon.socketPath}`;
  await ensureBaseImage(docker);
  await removeProject(docker, PROJECT);
  await docker
    .getVolume(`${PROJECT}_data`)
    .remove()
    .catch(() => undefined);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-chaos-'));
  const dbFilename = path.join(work, 'temporal.db');
  const stateDir = path.join(work, 'state');
  const port = await freePort();
  const bundlePath = await workflowBundlePath();
  const dir = projectDir(PROJECT, { 'docker-compose.yml': compose(1) });
  const specFor = (release: number) => {
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), compose(release));
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };

  let env: TestWorkflowEnvironment = await startDevServer({ dbFilename, port });
  const bed = (): TestBed => ({ docker, env, address: env.address, bundlePath, taskQueue: TASK_QUEUE, stateDir, teardown: () => env.teardown() });
  let worker: ChildProcess = await spawnWorker(bed());
  const results: RunResult[] = [];
  const model: HostModel = { release: 1, counter: 0, backups: new Map() };
  try {
    // The project starts deployed, so every run changes something that can be undone.
    await env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `chaos-${seed}-initial`, args: [{ spec: specFor(model.release) }] });
    for (let run = 1; run <= runs; run++) {
      const picked = pickOperation(random(), run, model);
      const operation = onlyOperation === 'restore' && model.backups.size === 0 ? 'backup' : (onlyOperation ?? picked);
      // Fault kinds take turns, so even a short run injects each of them; the seed picks operation and moment.
      const fault = onlyFault ?? FAULT_KINDS[(run - 1) % FAULT_KINDS.length];
      // Data operations are short: their faults come earlier, so most land inside them.
      const faultAtMs = Math.round(operation === 'deploy' || operation === 'rollback' ? 300 + random() * 5000 : 200 + random() * 3000);
      const workflowId = `chaos-${seed}-${run}-${operation}`;
      const target = model.release + 1;
      const restoreId = [...model.backups.keys()].sort().at(-1);
      const input = {
        deploy: { spec: specFor(target), waitForLock: true },
        rollback: { project: PROJECT, waitForLock: true },
        backup: { project: PROJECT, waitForLock: true },
        restore: { project: PROJECT, backupId: restoreId, waitForLock: true },
        migrate: { project: PROJECT, service: 'db', command: MIGRATION, waitForLock: true },
      }[operation];
      const started = Date.now();
      const hookStarts = await followHookStarts(docker);
      await env.client.workflow.start(operation, { taskQueue: TASK_QUEUE, workflowId, args: [input] });

      await new Promise((r) => setTimeout(r, faultAtMs));
      const faultStarted = Date.now();
      if (fault === 'worker-kill') {
        await killHard(worker);
        worker = await spawnWorker(bed());
      } else if (fault === 'server-restart') {
        await env.teardown();
        env = await startDevServer({ dbFilename, port });
      } else {
        await daemon.restart();
      }
      const faultEnded = Date.now();
      let failure: string | undefined;
      let result: Record<string, unknown> | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        result = await Promise.race([
          env.client.workflow.getHandle(workflowId).result() as Promise<Record<string, unknown>>,
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${workflowId} did not finish within 180 s`)), 180_000))),
        ]);
      } catch (err) {
        failure = rootMessage(err);
      } finally {
        // A pending 180 s timer would keep the process (and the test runner) waiting after the last run.
        clearTimeout(timer);
      }
      const outcome = failure === undefined ? ('completed' as const) : ('failed' as const);
      await interfere?.(docker, run);
      const expectations: string[] = [];
      const counterBefore = model.counter;
      if (outcome === 'completed') {
        if (operation === 'deploy') model.release = target;
        if (operation === 'migrate') model.counter += 1;
        if (operation === 'backup') model.backups.set(String(result!.backupId), model.counter);
        if (operation === 'restore') model.counter = model.backups.get(restoreId!)!;
      }
      const violations = await settledInvariants(docker, env, stateDir);
      hookStarts.stop();
      violations.push(...hookViolations(hookStarts.counts(), fault, operation === 'deploy' && outcome === 'completed' ? workflowId : undefined));
      const current = await currentRelease(docker);
      if (operation === 'deploy' && outcome === 'completed' && current !== target) violations.push(`deploy completed but the host runs release ${current}, not ${target}`);
      if (operation === 'rollback' && outcome === 'completed') model.release = current ?? model.release;
      if (outcome === 'failed' && operation === 'deploy' && current === target) model.release = target;
      const counter = await readCounter(docker);
      if (outcome === 'failed' && operation === 'restore' && counter === model.backups.get(restoreId!)) model.counter = counter;
      if (counter !== model.counter) {
        expectations.push(`the migration counter is ${counter}, expected ${model.counter} (was ${counterBefore} before this ${operation}, which ${outcome})`);
        // Judge later runs on their own, not on this run's damage again.
        model.counter = counter;
      }
      violations.push(...expectations);
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const diagnostics =
        violations.length === 0
          ? []
          : await diagnose(docker, env, workflowId, daemon.logFile, { started, faultStarted, faultEnded, checked: Date.now() }).catch((err: Error) => [`diagnostics failed: ${err.message}`]);
      const judged: RunResult = { run, operation, fault, faultAtMs, outcome, failure, seconds, violations, diagnostics };
      results.push(judged);
      log(
        `run ${run}: ${operation} with ${fault} at ${faultAtMs} ms → ${outcome}${failure ? ` (${failure.slice(0, 160)})` : ''} in ${seconds} s` +
          `${violations.length ? `; VIOLATIONS: ${violations.join('; ')}\n${diagnostics.map((d) => `    ${d}`).join('\n')}` : ''}`,
      );
      if (violations.length > 0) {
        // Each run is judged on its own: the next one starts from the model's release, not from this run's damage.
        const left = await repair(env, `chaos-${seed}-${run}-repair`, specFor(model.release), docker, stateDir);
        judged.repaired = left.length === 0;
        if (!judged.repaired) judged.diagnostics.push(`after a redeploy of release ${model.release}: ${left.join('; ')}`);
        log(`run ${run}: redeployed release ${model.release} before the next run: ${judged.repaired ? 'the host is consistent again' : `the host is STILL inconsistent: ${left.join('; ')}`}`);
      }
    }
  } finally {
    await killHard(worker);
    await env.teardown().catch(() => undefined);
    await removeProject(docker, PROJECT);
    await docker
      .getVolume(`${PROJECT}_data`)
      .remove()
      .catch(() => undefined);
    if (previousDockerHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = previousDockerHost;
    await daemon.stop();
  }
  return results;
}

/** Moments of one run (epoch ms), for the diagnostics' relative times. */
interface RunTimes {
  started: number;
  faultStarted: number;
  faultEnded: number;
  checked: number;
}

/**
 * What a run with violations looked like, in lines a CI log can carry: the
 * workflow's end, each container that is not running (or not healthy) with
 * its Docker state, and the activity timeline from the workflow's history,
 * plus what the chaos dockerd logged about those containers.
 */
async function diagnose(docker: Docker, env: TestWorkflowEnvironment, workflowId: string, daemonLog: string, times: RunTimes): Promise<string[]> {
  const at = (iso: string | Date | undefined) => {
    if (iso === undefined) return '?';
    const ms = typeof iso === 'string' ? Date.parse(iso) : iso.getTime();
    if (!Number.isFinite(ms) || ms <= 0) return 'never';
    return `${new Date(ms).toISOString().slice(11, 23)} (+${((ms - times.started) / 1000).toFixed(1)} s)`;
  };
  const lines: string[] = [];
  const handle = env.client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  lines.push(
    `workflow ${workflowId}: ${description.status.name}, started ${at(description.startTime)}, ended ${at(description.closeTime)}; ` +
      `fault from ${at(new Date(times.faultStarted))} to ${at(new Date(times.faultEnded))}; host checked at ${at(new Date(times.checked))}`,
  );
  const bad: string[] = [];
  for (const c of (await projectContainers(docker, PROJECT)).filter((c) => c.Labels[Label.oneoff] !== 'True')) {
    const info = await docker.getContainer(c.Id).inspect();
    const state = info.State;
    if (state.Running && (!state.Health || state.Health.Status === 'healthy')) continue;
    bad.push(info.Id);
    const policy = info.HostConfig.RestartPolicy;
    lines.push(
      `${nameOf(c)} ${info.Id.slice(0, 12)}: ${state.Status}${state.Health ? `/${state.Health.Status}` : ''}, ExitCode ${state.ExitCode}` +
        `${state.Error ? `, Error "${state.Error}"` : ''}${state.OOMKilled ? ', OOMKilled' : ''}, StartedAt ${at(state.StartedAt)}, FinishedAt ${at(state.FinishedAt)}, ` +
        `RestartCount ${info.RestartCount}, RestartPolicy ${policy?.Name || 'no'}, created ${at(info.Created)} by ${info.Config.Labels?.[Label.operation] ?? '?'}, ` +
        `RELEASE ${info.Config.Env.find((e) => e.startsWith('RELEASE='))?.slice('RELEASE='.length) ?? '?'}`,
    );
  }
  lines.push(...(await activityTimeline(handle, times.started)));
  lines.push(...daemonLogLines(daemonLog, bad, times));
  return lines;
}

/** One line per activity the workflow scheduled: when, what (with the container it names), each attempt's end. */
async function activityTimeline(handle: ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>, started: number): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const rel = (e: (typeof events)[number]) => `+${((Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6) - started) / 1000).toFixed(1)} s`;
  const activities = new Map<string, { line: string }>();
  const order: string[] = [];
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      let what = '';
      try {
        const payload = scheduled.input?.payloads?.[0];
        const input = payload?.data ? (JSON.parse(Buffer.from(payload.data).toString('utf8')) as Record<string, unknown>) : {};
        what = [input.name, input.service, input.number].filter((v) => v !== undefined).join(' ');
      } catch {
        what = '(encoded input)';
      }
      const id = String(e.eventId);
      activities.set(id, { line: `${rel(e)} ${scheduled.activityType?.name}${what ? ` [${what}]` : ''}` });
      order.push(id);
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    const completed = e.activityTaskCompletedEventAttributes;
    const failed = e.activityTaskFailedEventAttributes;
    const timedOut = e.activityTaskTimedOutEventAttributes;
    const canceled = e.activityTaskCanceledEventAttributes;
    const ref = started ?? completed ?? failed ?? timedOut ?? canceled;
    if (!ref) continue;
    const entry = activities.get(String(ref.scheduledEventId));
    if (!entry) continue;
    if (started) entry.line += `, attempt ${started.attempt} started ${rel(e)}${started.lastFailure?.message ? ` (after: ${started.lastFailure.message.slice(0, 120)})` : ''}`;
    if (completed) entry.line += `, completed ${rel(e)}`;
    if (failed) entry.line += `, FAILED ${rel(e)}: ${failed.failure?.message?.slice(0, 200)}`;
    if (timedOut) entry.line += `, TIMED OUT ${rel(e)}: ${timedOut.failure?.message?.slice(0, 200)}`;
    if (canceled) entry.line += `, cancelled ${rel(e)}`;
  }
  // The end of a long history is what matters most; a CI log keeps it readable.
  const kept = order.slice(-80);
  return [`activities (${order.length}${kept.length < order.length ? `, the last ${kept.length}` : ''}):`, ...kept.map((id) => `  ${activities.get(id)!.line}`)];
}

/** The chaos dockerd's log lines during the run that name one of the given containers, or are its errors. */
function daemonLogLines(logFile: string, containerIds: string[], times: RunTimes): string[] {
  if (!fs.existsSync(logFile)) return [];
  const noise = /grpc|devmapper|blkio|containerd config version|endpoint_count|cleanup warnings|stream copy error|level=debug/;
  const picked: string[] = [];
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    const time = Date.parse(/^time="([^"]+)"/.exec(line)?.[1] ?? '');
    if (!Number.isFinite(time) || time < times.started - 1000 || time > times.checked) continue;
    const names = containerIds.some((id) => line.includes(id.slice(0, 12)));
    const lifecycle = /Processing signal|Starting up|API listen|shutdown complete|Loading containers|restart|Failed to start|already exists/i.test(line);
    if (names || (lifecycle && !noise.test(line)) || (/level=(error|warning)/.test(line) && !noise.test(line))) picked.push(`  ${line.slice(0, 260)}`);
  }
  const kept = picked.slice(-40);
  return [`${logFile} during the run (${picked.length} lines${kept.length < picked.length ? `, the last ${kept.length}` : ''}):`, ...kept];
}

/** Deploy the model's release again; what still does not hold on the host afterwards (empty: repaired). */
async function repair(env: TestWorkflowEnvironment, workflowId: string, spec: ReturnType<typeof loadStack>['spec'], docker: Docker, stateDir: string): Promise<string[]> {
  let failure = '';
  try {
    await env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec, waitForLock: true }], workflowExecutionTimeout: '180s' });
  } catch (err) {
    // Judged by the host below; the failure only explains it.
    failure = `the redeploy failed: ${rootMessage(err)}`;
  }
  const left = await settledInvariants(docker, env, stateDir);
  return left.length === 0 ? [] : [...(failure ? [failure] : []), ...left];
}

/**
 * Start events of deploy hook containers, followed live from before an
 * operation starts: the engine keeps only its last 256 events, and the
 * stack's health checks alone overrun that within a long run. A dockerd
 * restart cuts the stream; hookViolations then judges only "never twice".
 */
async function followHookStarts(docker: Docker): Promise<{ counts(): Map<string, number>; stop(): void }> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['start'], label: [`${Label.project}=${PROJECT}`, ONE_OFF_LABEL] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  stream.on('error', () => undefined);
  return {
    counts() {
      const starts = new Map<string, number>();
      for (const line of text.split('\n').filter(Boolean)) {
        const attributes = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes ?? {};
        if (attributes[ONE_OFF_LABEL] !== 'pre_deploy' && attributes[ONE_OFF_LABEL] !== 'post_deploy') continue;
        starts.set(attributes.name, (starts.get(attributes.name) ?? 0) + 1);
      }
      return starts;
    },
    stop: () => stream.destroy(),
  };
}

/**
 * Deploy hooks ran exactly once: no hook container was started twice, and a
 * completed deploy started its pre_deploy and post_deploy containers once
 * each (not judged after a dockerd restart, which cut the event stream).
 */
function hookViolations(starts: Map<string, number>, fault: FaultKind, completedDeploy: string | undefined): string[] {
  const violations = [...starts].filter(([, n]) => n > 1).map(([name, n]) => `hook container ${name} was started ${n} times`);
  if (completedDeploy && fault !== 'dockerd-restart') {
    for (const phase of ['pre_deploy', 'post_deploy'] as const) {
      const name = hookContainerName(PROJECT, 'app', phase, completedDeploy, `x-dockflow.hooks.${phase}`);
      if (starts.get(name) !== 1) violations.push(`completed deploy ${completedDeploy}: its ${phase} hook container ${name} was started ${starts.get(name) ?? 0} times, not once`);
    }
  }
  return violations;
}

/** What the host should hold, as the harness tracks it from the operations' outcomes. */
interface HostModel {
  release: number;
  /** The migration counter in the data volume. */
  counter: number;
  /** Completed backups and the counter they hold. */
  backups: Map<string, number>;
}

function pickOperation(r: number, run: number, model: HostModel): Operation {
  if (run === 1) return 'deploy';
  if (r < 0.35) return 'deploy';
  if (r < 0.5) return 'rollback';
  if (r < 0.7) return 'backup';
  if (r < 0.8) return model.backups.size > 0 ? 'restore' : 'backup';
  return 'migrate';
}

function rootMessage(err: unknown): string {
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && (current as { cause?: unknown }).cause) current = (current as { cause: unknown }).cause;
  return current instanceof Error ? current.message : String(current);
}

async function currentRelease(docker: Docker): Promise<number | undefined> {
  const info = await docker.getContainer(`${PROJECT}-web-1`).inspect().catch(() => undefined);
  const value = info?.Config.Env.find((e) => e.startsWith('RELEASE='))?.slice('RELEASE='.length);
  return value === undefined ? undefined : Number(value);
}

/** The counter file, read on the host from the volume's directory (the harness runs as root, like dockerd). */
async function readCounter(docker: Docker): Promise<number> {
  const volume = await docker.getVolume(`${PROJECT}_data`).inspect();
  const file = path.join(volume.Mountpoint, 'counter');
  return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').trim()) : 0;
}

/**
 * The invariants once health checks had their say: a container started again
 * at the end of a backup is "starting" for a moment, and the lock ends a moment
 * after its holder, which is not a violation. Only what still fails after a
 * grace period counts.
 */
async function settledInvariants(docker: Docker, env: TestWorkflowEnvironment, stateDir: string): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const violations = await checkInvariants(docker, env, stateDir).catch((err: Error) => [`the host could not be checked: ${err.message}`]);
    // The lock is a child workflow the server terminates when its holder closes (parent close
    // policy), a moment after the holder's result is out; still held 20 s later is a violation.
    const transient = violations.every((v) => / is starting$|could not be checked|the project lock is still held/.test(v));
    if (violations.length === 0 || !transient || Date.now() > deadline) return violations;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What must hold on the host after any run, whatever was killed when. */
async function checkInvariants(docker: Docker, env: TestWorkflowEnvironment, stateDir: string): Promise<string[]> {
  const violations: string[] = [];
  const all = await projectContainers(docker, PROJECT);
  // One-off containers (a failed migration's is kept for `docker logs`) are not service containers.
  const containers = all.filter((c) => c.Labels[Label.oneoff] !== 'True');
  const names = containers.map(nameOf);
  if (JSON.stringify(names) !== JSON.stringify(EXPECTED_CONTAINERS)) violations.push(`containers are [${names.join(', ')}], expected [${EXPECTED_CONTAINERS.join(', ')}]`);
  const helpers = all.filter((c) => c.Labels[HELPER_LABEL]);
  if (helpers.length > 0) violations.push(`backup helper containers left: ${helpers.map(nameOf).join(', ')}`);
  const oneOffsPerOperation = new Map<string, number>();
  for (const c of all.filter((c) => c.Labels[Label.oneoff] === 'True' && !c.Labels[HELPER_LABEL])) {
    const key = `${c.Labels[Label.operation]}/${nameOf(c).includes('-dryrun-') ? 'dryrun' : 'run'}`;
    oneOffsPerOperation.set(key, (oneOffsPerOperation.get(key) ?? 0) + 1);
  }
  for (const [key, count] of oneOffsPerOperation) if (count > 1) violations.push(`${count} one-off containers for ${key}: a migration started twice`);
  const releases = new Set<string>();
  for (const c of containers) {
    const info = await docker.getContainer(c.Id).inspect();
    if (!info.State.Running) violations.push(`${nameOf(c)} is ${info.State.Status}`);
    if (info.State.Health && info.State.Health.Status !== 'healthy') violations.push(`${nameOf(c)} is ${info.State.Health.Status}`);
    // slowstop carries no release: it is the same container in every release.
    const release = info.Config.Env.find((e) => e.startsWith('RELEASE='));
    if (release !== undefined) releases.add(release);
  }
  if (releases.size !== 1) violations.push(`containers run different releases: ${[...releases].join(', ')}`);
  // The host matches the ledger's latest revision: the project is at a recorded revision, not between two.
  const latest = await createLedgerActivities({ docker, stateDir }).getRevision({ project: PROJECT });
  const recorded = latest?.spec.services.web.environment.RELEASE;
  if (recorded !== undefined && !releases.has(`RELEASE=${recorded}`)) violations.push(`host runs ${[...releases].join(', ')} but the ledger's revision ${latest?.number} says RELEASE=${recorded}`);
  violations.push(...verifyBackups(path.join(stateDir, 'backups', PROJECT)));
  const lock = await env.client.workflow.getHandle(`dockflow-lock-${PROJECT}`).describe().catch(() => undefined);
  if (lock?.status.name === 'RUNNING') violations.push('the project lock is still held');
  return violations;
}

/**
 * Every backup directory is complete (a manifest, written last) and every
 * archive it lists matches its sha256; no partial file is left anywhere.
 * Read straight from the files, independently of dockflow's own verifier.
 */
function verifyBackups(projectDirectory: string): string[] {
  const violations: string[] = [];
  if (!fs.existsSync(projectDirectory)) return violations;
  for (const id of fs.readdirSync(projectDirectory)) {
    const dir = path.join(projectDirectory, id);
    const files = fs.readdirSync(dir);
    for (const f of files.filter((f) => f.includes('.partial-'))) violations.push(`partial archive left: ${path.join(dir, f)}`);
    if (!files.includes('manifest.json')) {
      violations.push(`backup ${id} has no manifest: an incomplete backup was left behind (${files.join(', ') || 'empty'})`);
      continue;
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { archives: { archive: string; sha256: string }[] };
    for (const a of manifest.archives) {
      const file = path.join(dir, a.archive);
      if (!fs.existsSync(file)) {
        violations.push(`backup ${id}: archive ${a.archive} is missing`);
        continue;
      }
      const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
      if (sha !== a.sha256) violations.push(`backup ${id}: ${a.archive} has sha256 ${sha}, the manifest says ${a.sha256}`);
    }
  }
  return violations;
}

export function summarize(results: RunResult[], seed: number): string {
  const count = (pred: (r: RunResult) => boolean) => results.filter(pred).length;
  const violated = results.filter((r) => r.violations.length > 0);
  const row = (label: string, of: RunResult[]) =>
    `| ${label} | ${of.length} | ${FAULT_KINDS.map((k) => of.filter((r) => r.fault === k).length).join(' | ')} | ${of.filter((r) => r.outcome === 'completed').length} | ${of.filter((r) => r.outcome === 'failed' && r.violations.length === 0).length} | ${of.filter((r) => r.violations.length > 0).length} |`;
  return [
    `seed ${seed}: ${results.length} runs, ${count((r) => r.violations.length > 0)} with invariant violations`,
    '',
    `| operation | runs | worker kills | Temporal restarts | dockerd restarts | completed | failed cleanly | violations |`,
    `|---|---|---|---|---|---|---|---|`,
    ...OPERATIONS.map((op) => row(op, results.filter((r) => r.operation === op))),
    row('**all**', results),
    ...violated.map(
      (r) =>
        `\nrun ${r.run} (seed ${seed}, ${r.operation} → ${r.outcome}, ${r.fault} at ${r.faultAtMs} ms${r.repaired === false ? ', still wrong after a redeploy' : ''}): ${r.violations.join('; ')}`,
    ),
  ].join('\n');
}
