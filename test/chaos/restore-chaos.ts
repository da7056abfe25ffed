/**
 * Restore chaos: restores of real backups with a fault injected while the
 * archive streams into a data set, then the invariant checked on the host's
 * files: every data set holds exactly its contents from before the restore
 * or exactly the backup's (file trees compared entry by entry with sha256,
 * owners and modes), never a mix, never empty; a completed restore holds the
 * backup's. Nothing of the restore is left (no staging or kept-aside
 * directory, no helper container), the project's containers run and its
 * lock is free.
 *
 * Faults, taking turns, each once the staging copy of the volume is growing
 * (plus a seeded delay):
 * - worker-kill: SIGKILL of the worker, a new one started;
 * - archive-damage: the archive file being streamed is cut to half its size
 *   (put back afterwards, so the backup stays valid for later runs);
 * - helper-kill: the restore's helper container removed by force;
 * - server-restart: the Temporal dev server stopped and started again on
 *   its database.
 * No dockerd restart here: it runs on the machine's engine, which others
 * share (the main harness restarts its private daemon instead).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadStack } from '../../src/compose';
import { startDevServer } from '../../src/temporal/dev-server';
import { HELPER_LABEL } from '../../activities/backup';
import { Label } from '../../src/model/labels';
import { ensureBaseImage } from '../../src/demo/base-image';
import type { BackupManifest } from '../../src/backup/manifest';
import { execIn, freePort, killHard, projectDir, removeProject, spawnWorker, workflowBundlePath, type TestBed } from '../support/harness';
import { seededRandom } from './harness';

export const RESTORE_FAULTS = ['worker-kill', 'archive-damage', 'helper-kill', 'server-restart'] as const;
export type RestoreFault = (typeof RESTORE_FAULTS)[number];

export interface RestoreRunResult {
  run: number;
  fault: RestoreFault;
  /** Whether the fault landed while the staging copy was being written. */
  midStream: boolean;
  outcome: 'completed' | 'failed';
  failure?: string;
  /** Per data set: which contents it holds afterwards. */
  holds: Record<string, 'old' | 'restored' | 'neither'>;
  seconds: number;
  violations: string[];
}

const PROJECT = 'chaosrestore';
const TASK_QUEUE = 'chaos-restore';
const IDLE = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
const COMPOSE = `
name: ${PROJECT}
services:
  db:
    image: dockflow/busybox:1
    command: ${IDLE}
    restart: unless-stopped
    volumes: ["data:/data", "./files:/files"]
    x-dockflow:
      backup: {stop: true}
volumes:
  data: {}
`;

/** Everything under a host directory: sha256 of files, symlink targets, owners and modes; the root's owner and mode too. */
export function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const meta = (p: string) => {
    const st = fs.lstatSync(p);
    return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
  };
  out['.'] = `dir ${meta(dir)}`;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[`${rel}/`] = `dir ${meta(p)}`;
        walk(p);
      } else out[rel] = `${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${meta(p)}`;
    }
  };
  walk(dir);
  return out;
}

const same = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(a) === JSON.stringify(b);

function rootMessage(err: unknown): string {
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && (current as { cause?: unknown }).cause) current = (current as { cause: unknown }).cause;
  return current instanceof Error ? current.message : String(current);
}

export interface RestoreChaosOptions {
  seed: number;
  runs: number;
  /** Size of the random file in the volume: the stream must last long enough for a fault to land in it. */
  bigMiB?: number;
  /** Backups with different contents taken first and restored in turn (1 keeps a short run short). */
  backups?: number;
  log?: (line: string) => void;
}

export async function runRestoreChaos({ seed, runs, bigMiB = 24, backups: backupCount = 2, log = () => undefined }: RestoreChaosOptions): Promise<RestoreRunResult[]> {
  const random = seededRandom(seed);
  const docker = new Docker();
  await ensureBaseImage(docker);
  await removeProject(docker, PROJECT);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-chaos-restore-'));
  const dbFilename = path.join(work, 'temporal.db');
  const stateDir = path.join(work, 'state');
  const port = await freePort();
  const bundlePath = await workflowBundlePath();
  const dir = projectDir(PROJECT, { 'docker-compose.yml': COMPOSE, 'files/readme.txt': 'bind data\n' });
  const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
  const bindDir = path.join(dir, 'files');

  let env: TestWorkflowEnvironment = await startDevServer({ dbFilename, port });
  const bed = (): TestBed => ({ docker, env, address: env.address, bundlePath, taskQueue: TASK_QUEUE, stateDir, teardown: () => env.teardown() });
  let worker: ChildProcess = await spawnWorker(bed());
  const results: RestoreRunResult[] = [];
  const db = `${PROJECT}-db-1`;
  try {
    await env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `chaos-restore-${seed}-deploy`, args: [{ spec }] });
    const volumeDir = (await docker.getVolume(`${PROJECT}_data`).inspect()).Mountpoint;
    const sets = { volume: volumeDir, bind: bindDir };

    // Two backups with different contents (the big file too), restored in turn.
    const backups: { id: string; trees: Record<string, Record<string, string>> }[] = [];
    for (const version of ['a', 'b', 'c', 'd'].slice(0, Math.max(1, backupCount))) {
      await execIn(docker, db, [
        'sh',
        '-c',
        `rm -rf /data/* /data/.[!.]* /files/* && dd if=/dev/urandom of=/data/big bs=1M count=${bigMiB} 2>/dev/null && mkdir -p /data/nested/deeper /files/sub && ` +
          `echo ${version} > /data/version && echo secret-${version} > /data/.dot && chmod 600 /data/.dot && chown 1000:1000 /data/.dot && ln -s version /data/link && ` +
          `dd if=/dev/urandom of=/data/nested/deeper/blob bs=1k count=300 2>/dev/null && echo ${version} > /files/sub/bind.txt && dd if=/dev/urandom of=/files/bind.bin bs=1M count=2 2>/dev/null`,
      ]);
      const trees = { volume: treeOf(volumeDir), bind: treeOf(bindDir) };
      const r = (await env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: `chaos-restore-${seed}-backup-${version}`, args: [{ project: PROJECT }] })) as { backupId: string };
      backups.push({ id: r.backupId, trees });
      await new Promise((r) => setTimeout(r, 1100)); // backup IDs carry the start second
    }

    for (let run = 1; run <= runs; run++) {
      const fault = RESTORE_FAULTS[(run - 1) % RESTORE_FAULTS.length];
      const target = backups[run % backups.length];
      // Contents of this moment only, so "old" can never be mistaken for a backup's.
      await execIn(docker, db, ['sh', '-c', `echo run-${run} > /data/run-marker && echo run-${run} > /files/run-marker && rm -f /data/nested/deeper/blob`]);
      const before = { volume: treeOf(volumeDir), bind: treeOf(bindDir) };
      const delayMs = Math.round(random() * 300);
      const workflowId = `chaos-restore-${seed}-${run}-${fault}`;
      const started = Date.now();
      const manifestPath = path.join(stateDir, 'backups', PROJECT, target.id, 'manifest.json');
      const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as BackupManifest;
      const archiveFile = path.join(stateDir, 'backups', PROJECT, target.id, manifest.archives.find((a) => a.kind === 'volume')!.archive);
      const archiveBytes = fs.readFileSync(archiveFile);

      await env.client.workflow.start('restore', { taskQueue: TASK_QUEUE, workflowId, args: [{ project: PROJECT, backupId: target.id, waitForLock: true }] });
      // The fault lands once the volume's staging copy is growing.
      const deadline = Date.now() + 60_000;
      let midStream = false;
      while (!midStream && Date.now() < deadline) {
        const staging = fs.readdirSync(volumeDir).find((e) => e.startsWith('.dockflow-restore-new-'));
        const big = staging ? fs.statSync(path.join(volumeDir, staging, 'dockflow-volume', 'big'), { throwIfNoEntry: false }) : undefined;
        midStream = (big?.size ?? 0) > 512 * 1024;
        if (!midStream) await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, delayMs));
      if (fault === 'worker-kill') {
        await killHard(worker);
        worker = await spawnWorker(bed());
      } else if (fault === 'archive-damage') {
        fs.truncateSync(archiveFile, Math.floor(archiveBytes.length / 2));
      } else if (fault === 'helper-kill') {
        for (const c of await docker.listContainers({ all: true, filters: { label: [`${Label.project}=${PROJECT}`, `${HELPER_LABEL}=restore`] } })) {
          await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
        }
      } else {
        await env.teardown();
        env = await startDevServer({ dbFilename, port });
      }

      let failure: string | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          env.client.workflow.getHandle(workflowId).result(),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${workflowId} did not finish within 180 s`)), 180_000))),
        ]);
      } catch (err) {
        failure = rootMessage(err);
      } finally {
        clearTimeout(timer);
      }
      if (fault === 'archive-damage') fs.writeFileSync(archiveFile, archiveBytes);
      const outcome = failure === undefined ? ('completed' as const) : ('failed' as const);

      const violations: string[] = [];
      const holds: RestoreRunResult['holds'] = {};
      for (const [name, root] of Object.entries(sets) as [keyof typeof sets, string][]) {
        const leftovers = fs.readdirSync(root).filter((e) => e.startsWith('.dockflow-restore-'));
        if (leftovers.length > 0) violations.push(`${name}: restore directories left: ${leftovers.join(', ')}`);
        const now = treeOf(root);
        holds[name] = same(now, target.trees[name]) ? 'restored' : same(now, before[name]) ? 'old' : 'neither';
        if (holds[name] === 'neither') {
          const keys = new Set([...Object.keys(now), ...Object.keys(target.trees[name]), ...Object.keys(before[name])]);
          const differs = [...keys].filter((k) => now[k] !== target.trees[name][k] && now[k] !== before[name][k]).slice(0, 5);
          violations.push(`${name} holds neither its old contents nor the backup's (${Object.keys(now).length} entries; e.g. ${differs.join(', ') || 'a mix of both'})`);
        }
        if (outcome === 'completed' && holds[name] !== 'restored') violations.push(`the restore completed but ${name} holds ${holds[name]} contents`);
      }
      const helpers = await docker.listContainers({ all: true, filters: { label: [`${Label.project}=${PROJECT}`, HELPER_LABEL] } });
      if (helpers.length > 0) violations.push(`helper containers left: ${helpers.map((c) => c.Names[0]).join(', ')}`);
      const info = await docker.getContainer(db).inspect();
      if (!info.State.Running) violations.push(`${db} is ${info.State.Status}`);
      const lock = await env.client.workflow.getHandle(`dockflow-lock-${PROJECT}`).describe().catch(() => undefined);
      if (lock?.status.name === 'RUNNING') violations.push('the project lock is still held');

      const seconds = Math.round((Date.now() - started) / 100) / 10;
      results.push({ run, fault, midStream, outcome, failure, holds, seconds, violations });
      log(
        `restore run ${run}: ${fault} ${midStream ? 'mid-stream' : 'NOT mid-stream'} (+${delayMs} ms) → ${outcome}${failure ? ` (${failure.slice(0, 160)})` : ''}; ` +
          `volume ${holds.volume}, bind ${holds.bind}; ${seconds} s${violations.length ? `; VIOLATIONS: ${violations.join('; ')}` : ''}`,
      );
    }
  } finally {
    await killHard(worker);
    await env.teardown().catch(() => undefined);
    await removeProject(docker, PROJECT);
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  return results;
}

export function summarizeRestores(results: RestoreRunResult[], seed: number): string {
  const row = (fault: RestoreFault) => {
    const of = results.filter((r) => r.fault === fault);
    return `| ${fault} | ${of.length} | ${of.filter((r) => r.midStream).length} | ${of.filter((r) => r.outcome === 'completed').length} | ${of.filter((r) => r.outcome === 'failed' && r.violations.length === 0).length} | ${of.filter((r) => r.violations.length > 0).length} |`;
  };
  return [
    `restore chaos, seed ${seed}: ${results.length} runs, ${results.filter((r) => r.violations.length > 0).length} with invariant violations`,
    '',
    '| fault | runs | mid-stream | completed | failed cleanly | violations |',
    '|---|---|---|---|---|---|',
    ...RESTORE_FAULTS.map(row),
  ].join('\n');
}
