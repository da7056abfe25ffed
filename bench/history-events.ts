/**
 * History events per service of a deploy (issue 17): deploys a 3-service
 * stack (one level, health checks, as `npm run bench` does) on a fresh dev
 * server and an in-process worker, and counts the deploy's history events by
 * type. Writes the raw figures to bench/results/history-events-<label>-<time>.json.
 *
 *   TEMPORAL_CLI_PATH=... npx tsx bench/history-events.ts [--label before] [--sizes 3,7] [--runs 1]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { loadStack } from '../src/compose';
import { chainStack } from './stacks';
import { projectDir, removeProject, startTestBed, startWorker, REPO_ROOT } from '../test/support/harness';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const LABEL = option('--label', 'run');
const SIZES = option('--sizes', '3,7').split(',').map(Number);
const RUNS = Number(option('--runs', '1'));

/** The event type without its enum prefix, as the history shows it. */
function eventTypeName(e: { eventType?: unknown }): string {
  const type = e.eventType as number | string | undefined;
  return typeof type === 'number' ? (temporal.api.enums.v1.EventType[type] ?? String(type)).replace(/^EVENT_TYPE_/, '') : String(type ?? 'unknown');
}

async function main(): Promise<void> {
  const bed = await startTestBed('executor-history-events');
  const stop = await startWorker(bed);
  const results: unknown[] = [];
  try {
    for (const n of SIZES) {
      const depth = n <= 3 ? 1 : 2;
      const project = `executor-hist-${n}`;
      const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, n, depth) });
      const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
      for (let run = 0; run < RUNS; run++) {
        await removeProject(bed.docker, project);
        const started = Date.now();
        const handle = await bed.env.client.workflow.start('deploy', { taskQueue: bed.taskQueue, workflowId: `executor-hist-${n}-${run}-${Date.now()}`, args: [{ spec }] });
        await handle.result();
        const seconds = (Date.now() - started) / 1000;
        const events = (await handle.fetchHistory()).events ?? [];
        const byType: Record<string, number> = {};
        for (const e of events) byType[eventTypeName(e)] = (byType[eventTypeName(e)] ?? 0) + 1;
        const activities = events
          .filter((e) => e.activityTaskScheduledEventAttributes)
          .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
        const markers = events.filter((e) => e.markerRecordedEventAttributes).length;
        // The history in order: event type, with the activity or marker it is about.
        const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
        const t0 = events.length > 0 ? at(events[0]) : 0;
        const sequence = events.map((e) => {
          const what = e.activityTaskScheduledEventAttributes?.activityType?.name ?? e.markerRecordedEventAttributes?.markerName ?? '';
          return `${at(e) - t0}ms ${eventTypeName(e)}${what ? `:${what}` : ''}`;
        });
        const row = { services: n, depth, run, events: events.length, eventsPerService: Math.round((events.length / n) * 10) / 10, seconds, byType, activities, markers, sequence };
        console.log(JSON.stringify({ ...row, sequence: undefined }));
        results.push(row);
      }
      await removeProject(bed.docker, project);
    }
  } finally {
    await stop();
    await bed.teardown();
  }
  const out = path.join(REPO_ROOT, 'bench', 'results', `history-events-${LABEL}-${new Date().toISOString().slice(0, 16).replace(/:/g, '-')}Z.json`);
  fs.writeFileSync(out, `${JSON.stringify({ label: LABEL, loadavg: (await import('node:os')).loadavg(), results }, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
