/**
 * Chaos across hosts (`npm run chaos -- --hosts 3 --runs N`): a stack with
 * one service per simulated host (src/dev/simulated-hosts.ts), each host's
 * worker a process of its own, deployed release after release while one
 * fault lands at a seeded moment of each deploy:
 *
 *   worker-kill      SIGKILL of one host's worker (a new one starts 1 s later)
 *   dockerd-restart  one host's dockerd restarted (its containers stop with it)
 *   server-restart   the Temporal dev server restarted on the same database and port
 *
 * Invariant, checked on every host's own engine: when the deploy completed,
 * every host runs the new release; when it failed, every host runs the
 * previous one; always one release on every host, each service running,
 * never a mix.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { WorkflowClient, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadStack } from '../../src/compose';
import { startDevServer } from '../../src/temporal/dev-server';
import { BASE_IMAGE, ensureBaseImage } from '../../src/demo/base-image';
import { freePort, killHard, nameOf, projectContainers, removeProject, spawnWorker, workflowBundlePath, dockerOrFail, type TestBed } from '../support/harness';
import { loadImages, startSimulatedHosts, stopSimulatedHosts, type SimulatedHost } from '../support/hosts';
import { seededRandom } from './harness';

export const HOST_FAULTS = ['worker-kill', 'dockerd-restart', 'server-restart'] as const;
export type HostFault = (typeof HOST_FAULTS)[number];

export interface HostRunResult {
  run: number;
  fault: HostFault;
  /** The host the fault hit (server-restart: none). */
  host?: string;
  faultAtMs: number;
  outcome: 'completed' | 'failed';
  failure?: string;
  seconds: number;
  /** Each host's containers afterwards ("name release state"). */
  hosts: Record<string, string[]>;
  violations: string[];
}

const PROJECT = 'hosts-chaos';
const TASK_QUEUE = 'hosts-chaos';

/** One service per host, each depending on the one before (depends_on across hosts), healthy 1 s after it starts. */
function compose(hostCount: number, release: number): string {
  const lines = [`name: ${PROJECT}`, 'services:'];
  for (let i = 1; i <= hostCount; i++) {
    lines.push(
      `  s${i}:`,
      `    image: ${BASE_IMAGE}`,
      `    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]`,
      `    init: true`,
      `    restart: unless-stopped`,
      `    stop_grace_period: 1s`,
      `    environment: {RELEASE: "${release}"}`,
      `    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 30}`,
      `    deploy:`,
      `      placement: {constraints: ["node.hostname == host-${i}"]}`,
      `      update_config: {failure_action: rollback}`,
      ...(i > 1 ? [`    depends_on: {s${i - 1}: {condition: service_healthy}}`] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function containersOf(docker: Docker): Promise<string[]> {
  const out: string[] = [];
  for (const c of await projectContainers(docker, PROJECT)) {
    const env = (await docker.getContainer(c.Id).inspect()).Config.Env ?? [];
    out.push(`${nameOf(c)} r${env.find((e) => e.startsWith('RELEASE='))?.slice('RELEASE='.length)} ${c.State}`);
  }
  return out;
}

export async function runHostsChaos(options: { seed: number; runs: number; hosts?: number; log?: (line: string) => void }): Promise<HostRunResult[]> {
  const log = options.log ?? (() => undefined);
  const hostCount = options.hosts ?? 3;
  const random = seededRandom(options.seed);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hosts-chaos-'));
  const dbFilename = path.join(work, 'temporal.db');
  const port = await freePort();
  const docker = await dockerOrFail();
  await ensureBaseImage(docker);
  const bundlePath = await workflowBundlePath();
  let env: TestWorkflowEnvironment = await startDevServer({ dbFilename, port });
  const hosts: SimulatedHost[] = await startSimulatedHosts(work, Array.from({ length: hostCount }, (_, i) => ({ name: `host-${i + 1}` })));
  for (const h of hosts) await loadImages(docker, h.docker, [BASE_IMAGE]);
  const bed = (): TestBed => ({ docker, env, address: env.address, bundlePath, taskQueue: TASK_QUEUE, stateDir: work, teardown: () => env.teardown() });
  const spawnHostWorker = (h: SimulatedHost) =>
    spawnWorker(bed(), { DOCKFLOW_HOST: h.name, DOCKER_HOST: `unix://${h.daemon.socketPath}`, DOCKFLOW_STATE_DIR: h.stateDir, DOCKFLOW_NOTIFY: '' });
  const workers = new Map<string, ChildProcess>();
  for (const h of hosts) workers.set(h.name, await spawnHostWorker(h));
  const clientOf = async () => new WorkflowClient({ connection: await Connection.connect({ address: env.address }), namespace: 'default' });
  const file = path.join(work, 'compose.yml');
  const hostInfos = hosts.map((h) => ({ name: h.name, labels: h.labels }));
  const results: HostRunResult[] = [];
  let release = 0;
  try {
    // Release 0 everywhere first: the runs update from a stack that runs.
    fs.writeFileSync(file, compose(hostCount, release));
    await (await clientOf()).execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `deploy-${PROJECT}-initial`, args: [{ spec: loadStack({ files: [file] }).spec, hosts: hostInfos }] });
    for (let run = 1; run <= options.runs; run++) {
      const fault = HOST_FAULTS[(run - 1) % HOST_FAULTS.length];
      const host = fault === 'server-restart' ? undefined : hosts[Math.floor(random() * hosts.length)];
      // Within the first 6 s: the stack's deploy takes about 1.5 s per host on an idle machine, more under load.
      const faultAtMs = Math.floor(random() * 6000);
      const next = release + 1;
      fs.writeFileSync(file, compose(hostCount, next));
      const started = Date.now();
      const handle = await (await clientOf()).start('deploy', { taskQueue: TASK_QUEUE, workflowId: `deploy-${PROJECT}-${run}-${started}`, args: [{ spec: loadStack({ files: [file] }).spec, hosts: hostInfos }] });
      await new Promise((r) => setTimeout(r, faultAtMs));
      if (fault === 'worker-kill') {
        await killHard(workers.get(host!.name)!);
        await new Promise((r) => setTimeout(r, 1000));
        workers.set(host!.name, await spawnHostWorker(host!));
      } else if (fault === 'dockerd-restart') {
        await host!.daemon.restart();
      } else {
        await env.teardown();
        env = await startDevServer({ dbFilename, port });
      }
      let outcome: HostRunResult['outcome'] = 'completed';
      let failure: string | undefined;
      try {
        await (await clientOf()).getHandle(handle.workflowId).result();
      } catch (err) {
        outcome = 'failed';
        failure = String((err as { cause?: Error }).cause?.message ?? (err as Error).message);
      }
      const seconds = (Date.now() - started) / 1000;
      const states = Object.fromEntries(await Promise.all(hosts.map(async (h) => [h.name, await containersOf(h.docker)] as const)));
      const want = outcome === 'completed' ? next : release;
      const violations: string[] = [];
      for (const [i, h] of hosts.entries()) {
        const expected = [`${PROJECT}-s${i + 1}-1 r${want} running`];
        if (JSON.stringify(states[h.name]) !== JSON.stringify(expected)) violations.push(`${h.name}: ${states[h.name].join(', ') || 'nothing'} (expected ${expected[0]})`);
      }
      if (outcome === 'completed') release = next;
      results.push({ run, fault, host: host?.name, faultAtMs, outcome, failure, seconds, hosts: states, violations });
      log(`run ${run}: ${fault}${host ? ` on ${host.name}` : ''} at ${faultAtMs} ms → ${outcome} in ${seconds.toFixed(1)} s${failure ? ` (${failure.slice(0, 160)})` : ''}${violations.length ? `; VIOLATIONS: ${violations.join('; ')}` : ''}`);
      if (violations.length) {
        // Put every host right before the next run, so each run is judged on its own.
        await (await clientOf()).execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `deploy-${PROJECT}-repair-${run}`, args: [{ spec: loadStack({ files: [file] }).spec, hosts: hostInfos }] }).then(
          () => (release = next),
          () => undefined,
        );
      }
    }
  } finally {
    for (const w of workers.values()) await killHard(w);
    for (const h of hosts) await removeProject(h.docker, PROJECT).catch(() => undefined);
    await stopSimulatedHosts(hosts);
    await env.teardown().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
  return results;
}

export function summarizeHosts(results: HostRunResult[], seed: number): string {
  const rows = results.map((r) => `| ${r.run} | ${r.fault}${r.host ? ` (${r.host})` : ''} | ${r.faultAtMs} | ${r.outcome} | ${r.seconds.toFixed(1)} | ${r.violations.length ? r.violations.join('; ') : 'none'} |`);
  return [`multi-host chaos, seed ${seed}`, '| run | fault | at ms | outcome | s | violations |', '|---|---|---|---|---|---|', ...rows].join('\n');
}
