/**
 * Chaos harness: runs dockflow operations against the real Docker engine and
 * a real Temporal dev server (persisted to SQLite) while injecting faults at
 * seeded random moments, then checks invariants on the host, not on logs.
 *
 * Faults: SIGKILL of the worker process (a new one is started), and a
 * restart of the Temporal dev server on the same database and port.
 * Operations: a deploy that creates the project, deploys that roll a new
 * release start-first, and rollbacks to the previous revision.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadStack } from '../../src/compose';
import { startDevServer } from '../../src/temporal/dev-server';
import { createLedgerActivities } from '../../activities/ledger';
import { dockerOrFail, freePort, killHard, nameOf, projectContainers, projectDir, removeProject, spawnWorker, workflowBundlePath, type TestBed } from '../support/harness';
import { ensureBaseImage } from '../../src/demo/base-image';

export type FaultKind = 'worker-kill' | 'server-restart';
export type Operation = 'deploy' | 'rollback';

export interface RunResult {
  run: number;
  operation: Operation;
  fault: FaultKind;
  faultAtMs: number;
  outcome: 'completed' | 'failed';
  /** Invariants that did not hold on the host afterwards. */
  violations: string[];
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

const compose = (release: number) => `
name: ${PROJECT}
services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ${release} > /www/index.html; sleep 1; exec httpd -f -p 80 -h /www"]
    init: true
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
    environment: {RELEASE: "${release}"}
    depends_on:
      web: {condition: service_healthy}
`;

export interface ChaosOptions {
  seed: number;
  runs: number;
  log?: (line: string) => void;
}

export async function runChaos({ seed, runs, log = () => undefined }: ChaosOptions): Promise<RunResult[]> {
  const random = seededRandom(seed);
  const docker = await dockerOrFail();
  await ensureBaseImage(docker);
  await removeProject(docker, PROJECT);
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
  let release = 1;
  try {
    // The project starts deployed, so every run changes something that can be undone.
    await env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `chaos-${seed}-initial`, args: [{ spec: specFor(release) }] });
    for (let run = 1; run <= runs; run++) {
      const operation: Operation = run > 1 && random() < 0.3 ? 'rollback' : 'deploy';
      const fault: FaultKind = random() < 0.5 ? 'worker-kill' : 'server-restart';
      const faultAtMs = Math.round(300 + random() * 5000);
      const workflowId = `chaos-${seed}-${run}`;
      const target = operation === 'deploy' ? release + 1 : undefined;
      const input = operation === 'deploy' ? { spec: specFor(target!), waitForLock: true } : { project: PROJECT, waitForLock: true };
      await env.client.workflow.start(operation, { taskQueue: TASK_QUEUE, workflowId, args: [input] });

      await new Promise((r) => setTimeout(r, faultAtMs));
      if (fault === 'worker-kill') {
        await killHard(worker);
        worker = await spawnWorker(bed());
      } else {
        await env.teardown();
        env = await startDevServer({ dbFilename, port });
      }
      const outcome = await Promise.race([
        env.client.workflow.getHandle(workflowId).result().then(
          () => 'completed' as const,
          () => 'failed' as const,
        ),
        new Promise<'failed'>((_, reject) => setTimeout(() => reject(new Error(`${workflowId} did not finish within 180 s`)), 180_000)),
      ]);
      if (outcome === 'completed' && operation === 'deploy') release = target!;
      const violations = await checkInvariants(docker, env, stateDir);
      const current = await currentRelease(docker);
      if (operation === 'deploy' && outcome === 'completed' && current !== target) violations.push(`deploy completed but the host runs release ${current}, not ${target}`);
      if (operation === 'rollback' && outcome === 'completed') release = current ?? release;
      results.push({ run, operation, fault, faultAtMs, outcome, violations });
      log(`run ${run}: ${operation} with ${fault} at ${faultAtMs} ms → ${outcome}${violations.length ? `; VIOLATIONS: ${violations.join('; ')}` : ''}`);
    }
  } finally {
    await killHard(worker);
    await env.teardown().catch(() => undefined);
    await removeProject(docker, PROJECT);
  }
  return results;
}

async function currentRelease(docker: Docker): Promise<number | undefined> {
  const info = await docker.getContainer(`${PROJECT}-web-1`).inspect().catch(() => undefined);
  const value = info?.Config.Env.find((e) => e.startsWith('RELEASE='))?.slice('RELEASE='.length);
  return value === undefined ? undefined : Number(value);
}

/** What must hold on the host after any run, whatever was killed when. */
async function checkInvariants(docker: Docker, env: TestWorkflowEnvironment, stateDir: string): Promise<string[]> {
  const violations: string[] = [];
  const containers = await projectContainers(docker, PROJECT);
  const names = containers.map(nameOf);
  const expected = [`${PROJECT}-app-1`, `${PROJECT}-web-1`, `${PROJECT}-web-2`];
  if (JSON.stringify(names) !== JSON.stringify(expected)) violations.push(`containers are [${names.join(', ')}], expected [${expected.join(', ')}]`);
  const releases = new Set<string>();
  for (const c of containers) {
    const info = await docker.getContainer(c.Id).inspect();
    if (!info.State.Running) violations.push(`${nameOf(c)} is ${info.State.Status}`);
    if (info.State.Health && info.State.Health.Status !== 'healthy') violations.push(`${nameOf(c)} is ${info.State.Health.Status}`);
    releases.add(info.Config.Env.find((e) => e.startsWith('RELEASE=')) ?? '');
  }
  if (releases.size !== 1) violations.push(`containers run different releases: ${[...releases].join(', ')}`);
  // The host matches the ledger's latest revision: the project is at a recorded revision, not between two.
  const latest = await createLedgerActivities({ docker, stateDir }).getRevision({ project: PROJECT });
  const recorded = latest?.spec.services.web.environment.RELEASE;
  if (recorded !== undefined && !releases.has(`RELEASE=${recorded}`)) violations.push(`host runs ${[...releases].join(', ')} but the ledger's revision ${latest?.number} says RELEASE=${recorded}`);
  const lock = await env.client.workflow.getHandle(`dockflow-lock-${PROJECT}`).describe().catch(() => undefined);
  if (lock?.status.name === 'RUNNING') violations.push('the project lock is still held');
  return violations;
}

export function summarize(results: RunResult[], seed: number): string {
  const byFault = (kind: FaultKind) => results.filter((r) => r.fault === kind).length;
  const violated = results.filter((r) => r.violations.length > 0);
  return [
    `| seed | runs | worker kills | server restarts | completed | failed cleanly | violations |`,
    `|---|---|---|---|---|---|---|`,
    `| ${seed} | ${results.length} | ${byFault('worker-kill')} | ${byFault('server-restart')} | ${results.filter((r) => r.outcome === 'completed').length} | ${results.filter((r) => r.outcome === 'failed' && r.violations.length === 0).length} | ${violated.length} |`,
    ...violated.map((r) => `\nrun ${r.run} (seed ${seed}): ${r.violations.join('; ')}`),
  ].join('\n');
}
