/**
 * Where a backup's and a restore's time goes: the bench's 1 GiB volume (half
 * random, half text) backed up and restored by dockflow, each activity's
 * start → close taken from the workflow's history, beside reference passes
 * over the same data that isolate one cost each:
 *
 * - the Docker API alone: the volume's tar stream read and thrown away;
 * - Node's gzip alone (the library the backup uses), level 6 and level 1,
 *   over that stream;
 * - busybox `tar czf` / `tar xzf` in a container (the bench's anchor).
 *
 *   npm run bench:backup-phases              # 1024 MiB, 2 runs
 *   npm run bench:backup-phases -- --mib 256 --runs 1
 *
 * Prints a Markdown report; writes nothing but its scratch files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execFileSync, spawnSync } from 'node:child_process';
import type Docker from 'dockerode';
import type { temporal } from '@temporalio/proto';
import { loadStack } from '../src/compose';
import { eventMs, numericFlag } from './support';
import { BASE_IMAGE } from '../src/demo/base-image';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed } from '../test/support/harness';

const RUNS = numericFlag('--runs', 2);
const MIB = numericFlag('--mib', 1024);
const TASK_QUEUE = 'bench-backup-phases';
const r = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Seconds from start to close of every completed activity of a history, by type (summed when one type runs more than once). */
function activitySeconds(history: temporal.api.history.v1.IHistory): { byType: Record<string, number>; total: number } {
  const scheduled = new Map<number, string>();
  const started = new Map<number, number>();
  const byType: Record<string, number> = {};
  const events = history.events ?? [];
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes) scheduled.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    if (e.activityTaskStartedEventAttributes) started.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), eventMs(e.eventTime));
    if (e.activityTaskCompletedEventAttributes) {
      const sid = Number(e.activityTaskCompletedEventAttributes.scheduledEventId);
      const type = scheduled.get(sid)!;
      byType[type] = (byType[type] ?? 0) + (eventMs(e.eventTime) - started.get(sid)!) / 1000;
    }
  }
  return { byType, total: (eventMs(events.at(-1)?.eventTime) - eventMs(events[0]?.eventTime)) / 1000 };
}

/** Seconds to read a container path's tar stream through the API and pass it through `through` (none: thrown away). */
async function timeArchiveStream(docker: Docker, container: string, through?: () => NodeJS.ReadWriteStream): Promise<{ seconds: number; bytesOut: number }> {
  const t = Date.now();
  const tar = (await docker.getContainer(container).getArchive({ path: '/data' })) as unknown as Readable;
  let bytesOut = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytesOut += chunk.length;
      done();
    },
  });
  if (through) await pipeline(tar, through(), sink);
  else await pipeline(tar, sink);
  return { seconds: (Date.now() - t) / 1000, bytesOut };
}

function timeShell(args: string[]): number {
  const t = Date.now();
  const res = spawnSync('docker', args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`docker ${args.join(' ')}: ${res.stderr}`);
  return (Date.now() - t) / 1000;
}

async function main(): Promise<void> {
  execFileSync('bash', [path.join(__dirname, 'setup.sh')], { stdio: 'inherit' });
  const bed = await startTestBed(TASK_QUEUE);
  const worker = await spawnWorker(bed);
  const docker = bed.docker;
  const project = 'bench-phases';
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-phases-'));
  const rows: string[][] = [];
  const activityRows: { op: string; run: number; total: number; byType: Record<string, number> }[] = [];
  try {
    await removeProject(docker, project);
    const dir = projectDir(project, {
      'docker-compose.yml': `name: ${project}\nservices:\n  db:\n    image: ${BASE_IMAGE}\n    command: ["sleep", "3600"]\n    init: true\n    volumes: ["data:/data"]\nvolumes:\n  data: {}\n`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `phases-deploy-${Date.now()}`, args: [{ spec }] });
    const half = MIB / 2;
    await execIn(docker, `${project}-db-1`, ['sh', '-c', `dd if=/dev/urandom of=/data/random bs=1048576 count=${half} 2>/dev/null; yes 'GET /api/orders?id=12345 200 0.013s user-agent=Mozilla/5.0' | head -c ${half * 1048576} > /data/text.log; sync`]);
    const mb = (MIB * 1048576) / 1e6;
    const rate = (seconds: number) => `${r(seconds, 2)} s (${r(mb / seconds)} MB/s)`;

    for (let run = 1; run <= RUNS; run++) {
      const bh = await bed.env.client.workflow.start('backup', { taskQueue: TASK_QUEUE, workflowId: `phases-bk-${run}-${Date.now()}`, args: [{ project, spec, keepLast: 1 }] });
      const { backupId } = (await bh.result()) as { backupId: string };
      activityRows.push({ op: 'backup', run, ...activitySeconds(await bh.fetchHistory()) });
      const rh = await bed.env.client.workflow.start('restore', { taskQueue: TASK_QUEUE, workflowId: `phases-rs-${run}-${Date.now()}`, args: [{ project, backupId }] });
      await rh.result();
      activityRows.push({ op: 'restore', run, ...activitySeconds(await rh.fetchHistory()) });

      const raw = await timeArchiveStream(docker, `${project}-db-1`);
      const gz6 = await timeArchiveStream(docker, `${project}-db-1`, () => zlib.createGzip());
      const gz1 = await timeArchiveStream(docker, `${project}-db-1`, () => zlib.createGzip({ level: 1 }));
      const tarC = timeShell(['run', '--rm', '-v', `${project}_data:/data:ro`, '-v', `${out}:/out`, BASE_IMAGE, 'tar', 'czf', '/out/data.tar.gz', '-C', '/data', '.']);
      const tarT = timeShell(['run', '--rm', '-v', `${project}_data:/data:ro`, BASE_IMAGE, 'sh', '-c', 'tar cf - -C /data . > /dev/null']);
      const tarX = timeShell(['run', '--rm', '-v', `${out}:/out:ro`, BASE_IMAGE, 'sh', '-c', 'mkdir /x && tar xzf /out/data.tar.gz -C /x']);
      rows.push(
        [`${run}`, 'Docker API: GET archive, thrown away', rate(raw.seconds), `${r(raw.bytesOut / 1e6)} MB of tar`],
        [`${run}`, 'Docker API + Node gzip level 6 (what the backup does)', rate(gz6.seconds), `${r(gz6.bytesOut / 1e6)} MB compressed`],
        [`${run}`, 'Docker API + Node gzip level 1', rate(gz1.seconds), `${r(gz1.bytesOut / 1e6)} MB compressed`],
        [`${run}`, 'busybox tar cf to /dev/null in a container', rate(tarT), ''],
        [`${run}`, 'busybox tar czf in a container (anchor)', rate(tarC), `${r(fs.statSync(path.join(out, 'data.tar.gz')).size / 1e6)} MB compressed`],
        [`${run}`, 'busybox tar xzf in a container (anchor)', rate(tarX), ''],
      );
      console.error(`[phases] run ${run} done`);
    }
  } finally {
    await removeProject(docker, project);
    fs.rmSync(out, { recursive: true, force: true });
    await killHard(worker);
    await bed.teardown();
  }

  const lines: string[] = [];
  lines.push(`## Where a ${MIB} MiB backup and restore spend their time (${RUNS} run(s))`, '');
  lines.push('| operation | run | workflow total s | activities (start → close, s) |', '|---|---|---|---|');
  for (const a of activityRows) {
    const parts = Object.entries(a.byType)
      .filter(([, s]) => s >= 0.05)
      .sort((x, y) => y[1] - x[1])
      .map(([type, s]) => `${type} ${r(s, 2)}`);
    lines.push(`| ${a.op} | ${a.run} | ${r(a.total, 2)} | ${parts.join(', ')} |`);
  }
  lines.push('', '| run | reference pass over the same volume | time | output |', '|---|---|---|---|');
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  console.log(lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
