/**
 * `npm run fuzz -- --seed S --runs N`: N loader cases and N workflow inputs
 * (or --loader-runs / --workflow-runs), a --cli-sample of the loader cases
 * through the real CLI process (default 20), then a summary with every
 * violation and its replay command:
 *
 *   npm run fuzz -- --seed S --loader --case N     one loader case, with its files printed
 *   npm run fuzz -- --seed S --workflow --case N   one workflow input, with the input printed
 *
 * Options: --loader-deadline MS (5000), --workflow-deadline MS (30000),
 * --lanes N (workflow cases in flight, 6), --threads N (loader threads, 2),
 * --json FILE (the whole report).
 */
import * as fs from 'node:fs';
import { composeCase } from './compose-cases';
import { runFuzz, summarize, violationCount } from './harness';
import { workflowCase, workflowFixtures } from './workflow-cases';

function numberArg(name: string): number | undefined {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} takes a whole number, got ${process.argv[at + 1]}`);
  return value;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

async function main(): Promise<void> {
  const seed = numberArg('seed') ?? Date.now() % 100_000;
  const runs = numberArg('runs') ?? 1000;
  const caseIndex = numberArg('case');
  const only = caseIndex === undefined ? undefined : { kind: flag('workflow') ? ('workflow' as const) : ('loader' as const), index: caseIndex };
  if (only?.kind === 'loader') {
    const c = composeCase(seed, only.index);
    console.log(`loader case ${only.index} of seed ${seed}: ${c.baseline}; ${c.mutations.join('; ')}`);
    for (const f of c.files) console.log(`--- ${f.name}\n${f.text.length > 4000 ? `${f.text.slice(0, 4000)}\n... (${f.text.length} characters)` : f.text}`);
    for (const [name, text] of Object.entries(c.support)) console.log(`--- ${name}\n${text.slice(0, 2000)}`);
  } else if (only?.kind === 'workflow') {
    const c = workflowCase(seed, only.index, `fuzz${seed}x`, workflowFixtures(`fuzz${seed}x`));
    const text = JSON.stringify(c.input);
    console.log(`workflow case ${only.index} of seed ${seed}: ${c.type} (${c.invalid ? 'invalid' : 'valid'}); ${c.mutations.join('; ')}\n${text && text.length > 4000 ? `${text.slice(0, 4000)}...` : text}`);
  }
  const report = await runFuzz({
    seed,
    loaderRuns: flag('workflow') && only ? 0 : (numberArg('loader-runs') ?? runs),
    workflowRuns: flag('loader') && only ? 0 : (numberArg('workflow-runs') ?? runs),
    cliSample: only ? 0 : (numberArg('cli-sample') ?? 20),
    only,
    loaderDeadlineMs: numberArg('loader-deadline'),
    workflowDeadlineMs: numberArg('workflow-deadline'),
    lanes: numberArg('lanes'),
    threads: numberArg('threads'),
    log: (line) => console.log(line.split('\n')[0].slice(0, 500)),
  });
  if (only?.kind === 'loader') console.log(JSON.stringify(report.loader[0]?.outcome, null, 2));
  if (only?.kind === 'workflow') console.log(JSON.stringify(report.workflows[0], null, 2));
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt >= 0) fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify(report, null, 2));
  console.log(`\n${summarize(report)}`);
  process.exitCode = violationCount(report) > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
