/** `npm run chaos -- --seed S --runs N`: the full chaos run; prints a summary table. */
import { runChaos, summarize } from './harness';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

async function main(): Promise<void> {
  const seed = arg('seed', Date.now() % 100000);
  const runs = arg('runs', 20);
  const results = await runChaos({ seed, runs, log: (l) => console.log(l) });
  console.log(`\n${summarize(results, seed)}`);
  process.exitCode = results.some((r) => r.violations.length > 0) ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
