/** Small pieces every bench script needs: its numeric flags, Temporal's event timestamps, anchors' commands and the health wait. */
import { spawnSync } from 'node:child_process';
import type Docker from 'dockerode';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `--name N` from the command line, or the fallback. */
export function numericFlag(name: string, fallback: number, argv = process.argv.slice(2)): number {
  return argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback;
}

/** A history event's time (a protobuf Timestamp, seconds as a Long or a number) in ms since the epoch; 0 when absent. */
export function eventMs(t?: { seconds?: unknown; nanos?: number | null } | null): number {
  const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number | null } | undefined;
  if (!ts?.seconds) return 0;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}

/** A command's stdout; throws with the end of its stderr when it fails. */
export function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.slice(-2000)}`);
  return r.stdout;
}

/** Every container of a compose project healthy (or running, without a healthcheck). */
export async function waitAllHealthy(docker: Docker, project: string, expected: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } });
    const ready = list.filter((c) => c.State === 'running' && (!/health/.test(c.Status) || /\(healthy\)/.test(c.Status)));
    if (list.length >= expected && ready.length >= expected) return;
    if (Date.now() > deadline) throw new Error(`${project}: ${ready.length}/${expected} healthy after ${timeoutMs} ms`);
    await sleep(100);
  }
}
