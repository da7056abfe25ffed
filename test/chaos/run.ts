/**
 * `npm run chaos -- --seed S --runs N`: the full chaos run; prints a summary table.
 * `--fault dockerd-restart` (or worker-kill, server-restart) injects only that fault,
 * `--operation deploy` (or rollback, backup, restore, migrate) runs only that operation.
 * `--restore-runs M` adds M restores with a fault inside the archive's stream (default 8; 0 skips them),
 * `--runs 0` skips the main harness.
 * `--hosts N` (N ≥ 2) runs the multi-host mode instead (./hosts-chaos.ts): one service per simulated
 * host, `--runs` deploys, each hit by a host's worker kill, a host's dockerd restart or a Temporal restart.
 */
import { FAULT_KINDS, OPERATIONS, runChaos, summarize, type FaultKind, type Operation } from './harness';
import { runRestoreChaos, summarizeRestores } from './restore-chaos';
import { runHostsChaos, summarizeHosts } from './hosts-chaos';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

function choice<T extends string>(name: string, allowed: readonly T[]): T | undefined {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return undefined;
  const value = process.argv[at + 1] as T;
  if (!allowed.includes(value)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, not ${value}`);
  return value;
}

async function main(): Promise<void> {
  const seed = arg('seed', Date.now() % 100000);
  const runs = arg('runs', 20);
  const restoreRuns = arg('restore-runs', 8);
  let violations = 0;
  const hosts = arg('hosts', 0);
  if (hosts > 0) {
    if (hosts < 2) throw new Error('--hosts needs at least 2 hosts');
    const results = await runHostsChaos({ seed, runs, hosts, log: (l) => console.log(l) });
    console.log(`\n${summarizeHosts(results, seed)}`);
    process.exitCode = results.some((r) => r.violations.length > 0) ? 1 : 0;
    return;
  }
  if (runs > 0) {
    const fault: FaultKind | undefined = choice('fault', FAULT_KINDS);
    const operation: Operation | undefined = choice('operation', OPERATIONS);
    const results = await runChaos({ seed, runs, fault, operation, log: (l) => console.log(l) });
    console.log(`\n${summarize(results, seed)}`);
    violations += results.filter((r) => r.violations.length > 0).length;
  }
  if (restoreRuns > 0) {
    const restores = await runRestoreChaos({ seed, runs: restoreRuns, log: (l) => console.log(l) });
    console.log(`\n${summarizeRestores(restores, seed)}`);
    violations += restores.filter((r) => r.violations.length > 0).length;
  }
  process.exitCode = violations > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
