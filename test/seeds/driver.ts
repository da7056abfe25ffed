/**
 * The driver the seed-stack tests share: a stack's folder (test/seeds/<stack>,
 * the files its owner would write) copied to a fresh project directory in the
 * test workers' project root, and the `dockflow` CLI run there as a process,
 * as its owner runs it from a checkout of the stack. Only the variables a
 * user would set in the shell on another host (ports, the external network's
 * name) come from the test, so stacks from parallel runs never collide.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { HistoryEntry } from '../../workflows/rollback';
import type { BackupResult } from '../../workflows/backup';
import { projectDir, runCli, type CliRun, type TestBed } from '../support/harness';

export const SEEDS_DIR = __dirname;

const created: string[] = [];

/** Remove the project directories seedStack made (their ./data included). */
export function removeSeedDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
}

export interface SeedStack {
  /** The project name: the directory's name, as compose derives it. */
  project: string;
  dir: string;
  /** `dockflow <args>` in the stack's directory; returns what it printed and its exit code. */
  run(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** The same, failing the test unless it exits 0. */
  ok(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** `dockflow history --json`: the ledger's revisions, oldest first. */
  revisions(): Promise<HistoryEntry[]>;
  /** `dockflow backup --json`. */
  backup(args?: string[]): Promise<BackupResult>;
}

/**
 * Copy test/seeds/<stack> to a project directory named `seeds-<stack>` and
 * return the CLI bound to it; `env` is the user's shell environment for every
 * command (the worker's connection comes from the bed).
 */
export function seedStack(bed: TestBed, stack: string, env: Record<string, string>): SeedStack {
  const project = `seeds-${stack}`;
  const dir = projectDir(project, {});
  fs.cpSync(path.join(SEEDS_DIR, stack), dir, { recursive: true });
  created.push(dir);
  const baseEnv = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: bed.taskQueue, ...env };
  const run = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...baseEnv, ...extra }, 300_000, dir);
  const ok = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await run(args, extra);
    assert.equal(result.code, 0, `dockflow ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
    return result;
  };
  return {
    project,
    dir,
    run,
    ok,
    revisions: async () => (JSON.parse((await ok(['history', '-p', project, '--json'])).stdout) as { revisions: HistoryEntry[] }).revisions,
    backup: async (args: string[] = []) => JSON.parse((await ok(['backup', '-p', project, '--json', ...args])).stdout) as BackupResult,
  };
}

/** The body of an HTTP GET, failing the test on any status but 200. */
export async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${body}`);
  return body;
}

/**
 * Whether a PostgreSQL server answers on a TCP port: it is sent the protocol's
 * SSLRequest and must reply with one byte, 'S' or 'N' (no other server does).
 */
export function postgresAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(5000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    socket.once('data', (b: Buffer) => done(b.length === 1 && (b[0] === 0x53 || b[0] === 0x4e)));
  });
}

/** The operations of the ledger's revisions, oldest first, e.g. ["deploy", "deploy", "rollback"]. */
export function operations(revisions: HistoryEntry[]): string[] {
  return revisions.map((r) => r.operation);
}
