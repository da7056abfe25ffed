/**
 * Backup and restore against their anchors, side by side in one run: the
 * bench's 1 GiB volume (half random, half text) backed up and restored by
 * dockflow (whole workflows, verification included), then archived with
 * busybox `tar czf` and restored with `tar xzf` into the same volume, each
 * in a container, every run; each dockflow activity's start → close taken
 * from the workflow's history. With `--references`, also passes that
 * isolate one cost each:
 *
 * - the Docker API alone: the volume's tar stream read and thrown away;
 * - Node's gzip alone, level 6 and level 1, over that stream;
 * - busybox `tar cf` to /dev/null.
 *
 *   npm run bench:backup-phases              # 1024 MiB, 2 runs
 *   npm run bench:backup-phases -- --mib 256 --runs 1 --references
 *
 * Writes its raw figures (with the load average before and after each run)
 * to bench/results/backup-phases-<time>.json as it goes, and prints a
 * Markdown report.
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
const REFERENCES = process.argv.includes('--references');
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
  const started = new Date();
  const stamp = started.toISOString().slice(0, 16).replace(/:/g, '-');
  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const rawFile = path.join(resultsDir, `backup-phases-${stamp}Z${MIB !== 1024 ? `-${MIB}mib` : ''}.json`);
  const load = () => os.loadavg().map((l) => r(l, 2)).join(' ');
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: path.join(__dirname, '..'), encoding: 'utf8' }).stdout.trim();
  interface Run {
    run: number;
    loadBefore: string;
    loadAfter?: string;
    seconds: Record<string, number>;
    compressedBytes: Record<string, number>;
    activities: Record<string, { total: number; byType: Record<string, number> }>;
  }
  const raw = { started: started.toISOString(), commit, mib: MIB, runs: [] as Run[], cpus: os.cpus().length, node: process.version, references: REFERENCES };
  const save = () => fs.writeFileSync(rawFile, `${JSON.stringify(raw, null, 2)}\n`);
  try {
    await removeProject(docker, project);
    const dir = projectDir(project, {
      'docker-compose.yml': `name: ${project}\nservices:\n  db:\n    image: ${BASE_IMAGE}\n    command: ["sleep", "3600"]\n    init: true\n    volumes: ["data:/data"]\nvolumes:\n  data: {}\n`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `phases-deploy-${Date.now()}`, args: [{ spec }] });
    const half = MIB / 2;
    await execIn(docker, `${project}-db-1`, ['sh', '-c', `dd if=/dev/urandom of=/data/random bs=1048576 count=${half} 2>/dev/null; yes 'GET /api/orders?id=12345 200 0.013s user-agent=Mozilla/5.0' | head -c ${half * 1048576} > /data/text.log; sync`]);

    for (let run = 1; run <= RUNS; run++) {
      const row: Run = { run, loadBefore: load(), seconds: {}, compressedBytes: {}, activities: {} };
      raw.runs.push(row);
      let t = Date.now();
      const bh = await bed.env.client.workflow.start('backup', { taskQueue: TASK_QUEUE, workflowId: `phases-bk-${run}-${Date.now()}`, args: [{ project, spec, keepLast: 1 }] });
      const result = (await bh.result()) as { backupId: string; archives: { archiveBytes: number }[] };
      row.seconds['dockflow backup (verified)'] = (Date.now() - t) / 1000;
      row.compressedBytes['dockflow backup (verified)'] = result.archives.reduce((sum, a) => sum + a.archiveBytes, 0);
      row.activities.backup = activitySeconds(await bh.fetchHistory());
      t = Date.now();
      const rh = await bed.env.client.workflow.start('restore', { taskQueue: TASK_QUEUE, workflowId: `phases-rs-${run}-${Date.now()}`, args: [{ project, backupId: result.backupId }] });
      await rh.result();
      row.seconds['dockflow restore (verified)'] = (Date.now() - t) / 1000;
      row.activities.restore = activitySeconds(await rh.fetchHistory());

      row.seconds['tar czf in a container'] = timeShell(['run', '--rm', '-v', `${project}_data:/data:ro`, '-v', `${out}:/out`, BASE_IMAGE, 'tar', 'czf', '/out/data.tar.gz', '-C', '/data', '.']);
      row.compressedBytes['tar czf in a container'] = fs.statSync(path.join(out, 'data.tar.gz')).size;
      // Into the volume, as the restore does (bench/run.ts's anchor).
      row.seconds['tar xzf in a container'] = timeShell(['run', '--rm', '-v', `${project}_data:/data`, '-v', `${out}:/out:ro`, BASE_IMAGE, 'sh', '-c', 'rm -rf /data/* && tar xzf /out/data.tar.gz -C /data']);
      if (REFERENCES) {
        const api = await timeArchiveStream(docker, `${project}-db-1`);
        const gz6 = await timeArchiveStream(docker, `${project}-db-1`, () => zlib.createGzip());
        const gz1 = await timeArchiveStream(docker, `${project}-db-1`, () => zlib.createGzip({ level: 1 }));
        row.seconds['Docker API: GET archive, thrown away'] = api.seconds;
        row.seconds['Docker API + Node gzip level 6 (one stream)'] = gz6.seconds;
        row.compressedBytes['Docker API + Node gzip level 6 (one stream)'] = gz6.bytesOut;
        row.seconds['Docker API + Node gzip level 1 (one stream)'] = gz1.seconds;
        row.compressedBytes['Docker API + Node gzip level 1 (one stream)'] = gz1.bytesOut;
        row.seconds['busybox tar cf to /dev/null in a container'] = timeShell(['run', '--rm', '-v', `${project}_data:/data:ro`, BASE_IMAGE, 'sh', '-c', 'tar cf - -C /data . > /dev/null']);
      }
      row.loadAfter = load();
      save();
      console.error(`[phases] run ${run}: ${Object.entries(row.seconds).map(([k, v]) => `${k} ${r(v, 2)} s`).join('; ')}; load ${row.loadBefore} → ${row.loadAfter}`);
    }
  } finally {
    await removeProject(docker, project).catch((err: unknown) => console.error(`[phases] clean-up: ${String(err)}`));
    fs.rmSync(out, { recursive: true, force: true });
    await killHard(worker).catch(() => undefined);
    await bed.teardown().catch((err: unknown) => console.error(`[phases] teardown: ${String(err)}`));
  }

  const mb = (MIB * 1048576) / 1e6;
  const lines: string[] = [];
  lines.push(`## ${MIB} MiB backup and restore against tar, side by side (${RUNS} run(s), raw: \`bench/results/${path.basename(rawFile)}\`)`, '');
  lines.push('| run | load before → after | what | time s | MB/s | compressed MB | ratio to anchor |', '|---|---|---|---|---|---|---|');
  const anchorOf: Record<string, string> = { 'dockflow backup (verified)': 'tar czf in a container', 'dockflow restore (verified)': 'tar xzf in a container' };
  for (const row of raw.runs) {
    for (const [what, seconds] of Object.entries(row.seconds)) {
      const anchor = anchorOf[what];
      const ratio = anchor ? `${r(row.seconds[anchor] / seconds, 2)}×` : '';
      const compressed = row.compressedBytes[what] !== undefined ? `${r(row.compressedBytes[what] / 1e6)}` : '';
      lines.push(`| ${row.run} | ${row.loadBefore} → ${row.loadAfter} | ${what} | ${r(seconds, 2)} | ${r(mb / seconds)} | ${compressed} | ${ratio} |`);
    }
  }
  lines.push('', '| operation | run | workflow total s | activities (start → close, s) |', '|---|---|---|---|');
  for (const row of raw.runs) {
    for (const [op, a] of Object.entries(row.activities)) {
      const parts = Object.entries(a.byType)
        .filter(([, sec]) => sec >= 0.05)
        .sort((x, y) => y[1] - x[1])
        .map(([type, sec]) => `${type} ${r(sec, 2)}`);
      lines.push(`| ${op} | ${row.run} | ${r(a.total, 2)} | ${parts.join(', ')} |`);
    }
  }
  console.log(lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
