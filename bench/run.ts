/**
 * Benchmarks: dockflow side by side with its anchors on this machine, same
 * images, same compose files, one run. Writes its raw figures to
 * bench/results/bench-<time>.json (bench/raw.ts), then bench/RESULTS.md from
 * every file there and bench/ANALYSIS.md (bench/report.ts).
 *
 *   npm run bench                      # everything, 3 runs per figure
 *   npm run bench -- --quick           # 1 run, smaller sizes (to check the bench itself)
 *   npm run bench -- --only deploy,backup
 *   (sections: deploy, cli, rolling, backup, recovery, scale)
 *
 * dockflow is driven the way the CLI drives it: the compose files are loaded
 * on the client and a `deploy` workflow is started on a worker running in its
 * own process (so its memory can be read), against a real Temporal dev
 * server. The anchors run through their own command-line tools.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { loadStack } from '../src/compose';
import { BASE_IMAGE } from '../src/demo/base-image';
import { chainStack } from './stacks';
import { eventMs, sh, waitAllHealthy } from './support';
import { cliSection } from './cli';
import { scaleSection } from './scale';
import { beginRun, writeRaw, type Figure } from './raw';
import { cliEntry } from '../bin/build-stamp';
import { execIn, killHard, projectDir, removeProject, REPO_ROOT, spawnWorker, startTestBed, type TestBed } from '../test/support/harness';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const ONLY = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : undefined;
const RUNS = QUICK ? 1 : 3;
const TASK_QUEUE = 'bench';
const wants = (section: string) => !ONLY || ONLY.includes(section);


const figures: Figure[] = [];
const notes: string[] = [];
const log = (line: string) => console.log(`[bench] ${line}`);

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function deploySection(bed: TestBed, docker: Docker): Promise<void> {
  const sizes: [number, number][] = QUICK ? [[3, 1], [20, 3]] : [[3, 1], [20, 3], [50, 5]];
  for (const [n, depth] of sizes) {
    const project = `bench-d${n}`;
    const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, n, depth) });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    // The same services for docker-compose 1.29, which predates the top-level name: (-p gives it).
    const file = path.join(dir, 'anchor-compose.yml');
    fs.writeFileSync(file, chainStack(project, n, depth).replace(/^name: .*\n/, ''));
    const dockflow: number[] = [];
    const compose: number[] = [];
    const events: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      await removeProject(docker, project);
      let t = Date.now();
      const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-deploy-${n}-${run}-${Date.now()}`, args: [{ spec }] });
      await handle.result();
      dockflow.push((Date.now() - t) / 1000);
      events.push((await handle.fetchHistory()).events!.length / n);
      await removeProject(docker, project);

      t = Date.now();
      sh('docker-compose', ['-p', project, '-f', file, 'up', '-d', '--no-color'], dir);
      await waitAllHealthy(docker, project, n);
      compose.push((Date.now() - t) / 1000);
      try {
        sh('docker-compose', ['-p', project, '-f', file, 'down', '-t', '1'], dir);
      } catch (err) {
        // docker-compose 1.29 sometimes removes the network before the engine let go of
        // every endpoint ("has active endpoints"); clean up through the API instead.
        log(`docker-compose down failed (${String((err as Error).message).split('\n').filter(Boolean).at(-1)}); removing through the API`);
        await removeProject(docker, project);
      }
      log(`deploy ${n} services, depth ${depth}, run ${run + 1}: dockflow ${dockflow.at(-1)} s, docker-compose ${compose.at(-1)} s`);
    }
    await removeProject(docker, project);
    const what = `${n} services, depends_on depth ${depth}`;
    figures.push({ section: 'Deploy: trigger to all healthy', what, tool: 'docker-compose up -d + wait', values: compose, unit: 's' });
    figures.push({ section: 'Deploy: trigger to all healthy', what, tool: 'dockflow deploy', values: dockflow, unit: 's', anchorOf: 'docker-compose up -d + wait' });
    figures.push({ section: 'Deploy: trigger to all healthy', what, tool: 'critical-path lower bound', values: [depth * 1], unit: 's', note: '1 s of sleep per level; Docker checks health every 1 s, so up to 1 s more per level is not avoidable either' });
    figures.push({ section: 'History events per service (deploy)', what, tool: 'dockflow', values: events, unit: 'events/service' });
  }
}

/** A client container looping on the alias; prints one line per request: ok|fail and ms since start. */
const CLIENT_SCRIPT = `start=$(cut -d' ' -f1 /proc/uptime); while [ ! -f /tmp/stop ]; do if wget -q -O /dev/null http://web/ 2>/dev/null; then r=ok; else r=fail; fi; echo "$r $(cut -d' ' -f1 /proc/uptime)" >> /tmp/log; done; touch /tmp/finished; sleep 3600`;

interface LoadResult {
  ok: number;
  failed: number;
  longestGapS: number;
}

async function startClient(docker: Docker, name: string, network: string): Promise<Docker.Container> {
  await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
  const c = await docker.createContainer({ name, Image: BASE_IMAGE, Cmd: ['sh', '-c', CLIENT_SCRIPT], HostConfig: { NetworkMode: network } });
  await c.start();
  return c;
}

async function stopClient(docker: Docker, name: string): Promise<LoadResult> {
  await execIn(docker, name, ['touch', '/tmp/stop']);
  for (let i = 0; i < 100 && !(await execIn(docker, name, ['sh', '-c', 'test -f /tmp/finished && echo y']).catch(() => '')).includes('y'); i++) await sleep(100);
  const lines = (await execIn(docker, name, ['cat', '/tmp/log'])).trim().split('\n').filter(Boolean);
  await docker.getContainer(name).remove({ force: true });
  let ok = 0;
  let failed = 0;
  let lastOk: number | undefined;
  let gap = 0;
  for (const line of lines) {
    const [result, at] = line.split(' ');
    const t = Number(at);
    if (result === 'ok') {
      ok += 1;
      if (lastOk !== undefined) gap = Math.max(gap, t - lastOk);
      lastOk = t;
    } else failed += 1;
  }
  return { ok, failed, longestGapS: round(gap, 2) };
}

const WEB = (release: number) => `
  web:
    image: ${BASE_IMAGE}
    command: ["sh", "-c", "echo ${release} > /www/index.html; sleep 2; exec httpd -f -p 80 -h /www"]
    environment: {RELEASE: "${release}"}
    init: true
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval: 1s, timeout: 1s, retries: 3}
    deploy:
      replicas: 3
      update_config: {order: start-first, parallelism: 1}
`;

async function rollingSection(bed: TestBed, docker: Docker): Promise<void> {
  const results: Record<string, { failed: number[]; duration: number[]; gap: number[]; ok: number[] }> = {};
  const record = (tool: string, r: LoadResult, duration: number) => {
    results[tool] ??= { failed: [], duration: [], gap: [], ok: [] };
    results[tool].failed.push(r.failed);
    results[tool].ok.push(r.ok);
    results[tool].duration.push(round(duration, 1));
    results[tool].gap.push(r.longestGapS);
    log(`rolling ${tool}: ${r.ok} ok, ${r.failed} failed, longest gap ${r.longestGapS} s, ${round(duration, 1)} s`);
  };
  for (let run = 0; run < RUNS; run++) {
    // dockflow start-first
    const project = 'bench-roll';
    await removeProject(docker, project);
    const dir = projectDir(project, { 'docker-compose.yml': `name: ${project}\nservices:${WEB(1)}` });
    const specOf = (release: number) => {
      fs.writeFileSync(path.join(dir, 'docker-compose.yml'), `name: ${project}\nservices:${WEB(release)}`);
      return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
    };
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-roll-init-${run}-${Date.now()}`, args: [{ spec: specOf(1) }] });
    await startClient(docker, 'bench-roll-client', `${project}_default`);
    await sleep(2000);
    let t = Date.now();
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-roll-${run}-${Date.now()}`, args: [{ spec: specOf(2) }] });
    let duration = (Date.now() - t) / 1000;
    await sleep(1000);
    record('dockflow (start-first)', await stopClient(docker, 'bench-roll-client'), duration);
    await removeProject(docker, project);

    // docker-compose recreate (1.29 has no rolling update: it recreates the containers)
    const cproject = 'bench-rollc';
    const cdir = projectDir(cproject, {});
    const cfile = path.join(cdir, 'docker-compose.yml');
    const composeFile = (release: number) => `version: "2.4"\nservices:${WEB(release).replace(/ {4}deploy:[\s\S]*$/, '    scale: 3\n')}`;
    fs.writeFileSync(cfile, composeFile(1));
    sh('docker-compose', ['-p', cproject, '-f', cfile, 'up', '-d'], cdir);
    await waitAllHealthy(docker, cproject, 3);
    await startClient(docker, 'bench-rollc-client', `${cproject}_default`);
    await sleep(2000);
    fs.writeFileSync(cfile, composeFile(2));
    t = Date.now();
    sh('docker-compose', ['-p', cproject, '-f', cfile, 'up', '-d'], cdir);
    await waitAllHealthy(docker, cproject, 3);
    duration = (Date.now() - t) / 1000;
    await sleep(1000);
    record('docker-compose up -d (recreate)', await stopClient(docker, 'bench-rollc-client'), duration);
    sh('docker-compose', ['-p', cproject, '-f', cfile, 'down', '-t', '1'], cdir);

    // Swarm start-first, dnsrr (no IPVS here)
    try {
      record('swarm service update --update-order start-first', ...(await swarmRolling(docker)));
    } catch (err) {
      const msg = `Swarm rolling update could not be measured: ${(err as Error).message.slice(0, 400)}`;
      if (!notes.includes(msg)) notes.push(msg);
      log(msg);
    }
  }
  for (const [tool, r] of Object.entries(results)) {
    figures.push({ section: 'Rolling update of 3 replicas under load', what: 'failed requests', tool, values: r.failed, unit: 'requests' });
    figures.push({ section: 'Rolling update of 3 replicas under load', what: 'successful requests', tool, values: r.ok, unit: 'requests', lowerIsBetter: false });
    figures.push({ section: 'Rolling update of 3 replicas under load', what: 'total duration', tool, values: r.duration, unit: 's' });
    figures.push({ section: 'Rolling update of 3 replicas under load', what: 'longest gap between successful responses', tool, values: r.gap, unit: 's' });
  }
}

async function swarmRolling(docker: Docker): Promise<[LoadResult, number]> {
  const state = (await docker.info()).Swarm?.LocalNodeState;
  const ownSwarm = state !== 'active';
  if (ownSwarm) sh('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  try {
    spawnSync('docker', ['service', 'rm', 'bench-web']);
    spawnSync('docker', ['network', 'rm', 'bench-swarm']);
    await sleep(1000);
    sh('docker', ['network', 'create', '-d', 'overlay', '--attachable', 'bench-swarm']);
    const create = (release: number) => [
      '--env', `RELEASE=${release}`,
      '--health-cmd', 'wget -q -O /dev/null http://127.0.0.1/', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '3',
    ];
    sh('docker', ['service', 'create', '--detach', '--name', 'bench-web', '--replicas', '3', '--endpoint-mode', 'dnsrr', '--network', 'name=bench-swarm,alias=web', '--init', ...create(1), '--no-resolve-image', BASE_IMAGE, 'sh', '-c', 'echo $RELEASE > /www/index.html; sleep 2; exec httpd -f -p 80 -h /www']);
    const converged = async () => {
      for (let i = 0; i < 600; i++) {
        const tasks = sh('docker', ['service', 'ps', 'bench-web', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).trim().split('\n');
        const status = sh('docker', ['service', 'inspect', 'bench-web', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}']).trim();
        if (tasks.length === 3 && tasks.every((s) => s.startsWith('Running')) && (status === '' || status === 'completed')) return;
        await sleep(200);
      }
      throw new Error('the swarm service did not converge within 120 s');
    };
    await converged();
    await sleep(3000);
    await startClient(docker, 'bench-swarm-client', 'bench-swarm');
    await sleep(2000);
    const t = Date.now();
    sh('docker', ['service', 'update', '--detach', '--update-order', 'start-first', '--update-parallelism', '1', '--no-resolve-image', '--env-add', 'RELEASE=2', 'bench-web']);
    await sleep(500);
    await converged();
    const duration = (Date.now() - t) / 1000;
    await sleep(1000);
    return [await stopClient(docker, 'bench-swarm-client'), duration];
  } finally {
    spawnSync('docker', ['rm', '-f', 'bench-swarm-client']);
    spawnSync('docker', ['service', 'rm', 'bench-web']);
    await sleep(2000);
    spawnSync('docker', ['network', 'rm', 'bench-swarm']);
    if (ownSwarm) spawnSync('docker', ['swarm', 'leave', '--force']);
  }
}

async function recoverySection(bed: TestBed, docker: Docker): Promise<void> {
  const toPolling: number[] = [];
  const toActivity: number[] = [];
  const toDone: number[] = [];
  const project = 'bench-rec';
  const dir = projectDir(project, { 'docker-compose.yml': chainStack(project, 6, 3) });
  const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
  for (let run = 0; run < RUNS; run++) {
    await removeProject(docker, project);
    let worker: ChildProcess = await spawnWorker(bed);
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-rec-${run}-${Date.now()}`, args: [{ spec }] });
    await sleep(2500);
    await killHard(worker);
    const started = Date.now();
    worker = await spawnWorker(bed);
    toPolling.push(round((Date.now() - started) / 1000, 2));
    await handle.result();
    const done = Date.now();
    const events = (await handle.fetchHistory()).events!;
    const next = events.find((e) => e.activityTaskStartedEventAttributes && eventMs(e.eventTime) >= started);
    const nextAt = next ? eventMs(next.eventTime) : done;
    toActivity.push(round((nextAt - started) / 1000, 2));
    toDone.push(round((done - started) / 1000, 2));
    log(`recovery run ${run + 1}: new worker polling after ${toPolling.at(-1)} s, next activity ${toActivity.at(-1)} s after the new worker started, done after ${toDone.at(-1)} s`);
    await killHard(worker);
  }
  await removeProject(docker, project);
  figures.push({ section: 'Recovery after SIGKILL of the worker mid-deploy', what: 'new worker start → polling its task queue', tool: 'dockflow', values: toPolling, unit: 's' });
  figures.push({ section: 'Recovery after SIGKILL of the worker mid-deploy', what: 'new worker start → next activity started', tool: 'dockflow', values: toActivity, unit: 's' });
  figures.push({ section: 'Recovery after SIGKILL of the worker mid-deploy', what: 'new worker start → deploy complete', tool: 'dockflow', values: toDone, unit: 's' });
}

async function backupSection(bed: TestBed, docker: Docker): Promise<void> {
  const project = 'bench-bk';
  const sizeMiB = QUICK ? 128 : 1024;
  await removeProject(docker, project);
  const dir = projectDir(project, {
    'docker-compose.yml': `name: ${project}\nservices:\n  db:\n    image: ${BASE_IMAGE}\n    command: ["sleep", "3600"]\n    init: true\n    volumes: ["data:/data"]\nvolumes:\n  data: {}\n`,
  });
  const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
  await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `bench-bk-deploy-${Date.now()}`, args: [{ spec }] });
  // Half random bytes, half compressible text (a log-like file repeated).
  const half = sizeMiB / 2;
  await execIn(docker, `${project}-db-1`, ['sh', '-c', `dd if=/dev/urandom of=/data/random bs=1048576 count=${half} 2>/dev/null; yes 'GET /api/orders?id=12345 200 0.013s user-agent=Mozilla/5.0' | head -c ${half * 1048576} > /data/text.log; sync`]);
  const bytes = sizeMiB * 1048576;
  const mbps = (seconds: number) => round(bytes / 1e6 / seconds, 1);
  const dockflowBackup: number[] = [];
  const dockflowRestore: number[] = [];
  const tarC: number[] = [];
  const tarX: number[] = [];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-tar-'));
  for (let run = 0; run < RUNS; run++) {
    let t = Date.now();
    const result = (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: `bench-bk-${run}-${Date.now()}`, args: [{ project, spec, keepLast: 1 }] })) as { backupId: string };
    dockflowBackup.push(mbps((Date.now() - t) / 1000));
    t = Date.now();
    await bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: `bench-rs-${run}-${Date.now()}`, args: [{ project, backupId: result.backupId }] });
    dockflowRestore.push(mbps((Date.now() - t) / 1000));

    t = Date.now();
    sh('docker', ['run', '--rm', '-v', `${project}_data:/data:ro`, '-v', `${out}:/out`, BASE_IMAGE, 'tar', 'czf', '/out/data.tar.gz', '-C', '/data', '.']);
    tarC.push(mbps((Date.now() - t) / 1000));
    t = Date.now();
    sh('docker', ['run', '--rm', '-v', `${project}_data:/data`, '-v', `${out}:/out:ro`, BASE_IMAGE, 'sh', '-c', 'rm -rf /data/* && tar xzf /out/data.tar.gz -C /data']);
    tarX.push(mbps((Date.now() - t) / 1000));
    log(`backup run ${run + 1}: dockflow backup ${dockflowBackup.at(-1)} MB/s, restore ${dockflowRestore.at(-1)} MB/s; tar czf ${tarC.at(-1)} MB/s, tar xzf ${tarX.at(-1)} MB/s`);
  }
  fs.rmSync(out, { recursive: true, force: true });
  await removeProject(docker, project);
  const what = `${sizeMiB} MiB volume, half random, half text`;
  figures.push({ section: 'Backup and restore throughput', what: `${what}: backup`, tool: 'tar czf in a container', values: tarC, unit: 'MB/s', lowerIsBetter: false });
  figures.push({ section: 'Backup and restore throughput', what: `${what}: backup`, tool: 'dockflow backup (verified)', values: dockflowBackup, unit: 'MB/s', lowerIsBetter: false, anchorOf: 'tar czf in a container' });
  figures.push({ section: 'Backup and restore throughput', what: `${what}: restore`, tool: 'tar xzf in a container', values: tarX, unit: 'MB/s', lowerIsBetter: false });
  figures.push({ section: 'Backup and restore throughput', what: `${what}: restore`, tool: 'dockflow restore (verified first)', values: dockflowRestore, unit: 'MB/s', lowerIsBetter: false, anchorOf: 'tar xzf in a container' });
}

async function main(): Promise<void> {
  const begun = beginRun();
  execFileSync('bash', [path.join(__dirname, 'setup.sh')], { stdio: 'inherit' });
  if (!cliEntry(REPO_ROOT, process.env).compiled) {
    // The CLI and the scale section's worker run as after `npm install`: compiled.
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], { stdio: 'inherit' });
  }
  const bed = await startTestBed(TASK_QUEUE);
  const docker = bed.docker;
  const worker = await spawnWorker(bed);
  const versions = {
    'Docker engine': (await docker.version()).Version,
    'docker-compose': sh('docker-compose', ['version', '--short']).trim(),
    Node: process.version,
    'Temporal CLI dev server': path.basename(path.dirname(process.env.TEMPORAL_CLI_PATH ?? '')) || 'see scripts/testbed.sh',
  };
  const details: Record<string, unknown> = {};
  try {
    if (wants('deploy')) await deploySection(bed, docker);
    if (wants('cli')) {
      // The same deploys through the `dockflow` command as a process, and its start-up (bench/cli.ts).
      const cli = await cliSection(bed, docker, { runs: RUNS, quick: QUICK });
      figures.push(...cli.figures);
      notes.push(...cli.notes.map((n) => `cli: ${n}`));
    }
    if (wants('rolling')) await rollingSection(bed, docker);
    if (wants('backup')) await backupSection(bed, docker);
    await killHard(worker);
    if (wants('recovery')) await recoverySection(bed, docker);
    if (wants('scale')) {
      // Its own worker, as users run it (bench/scale.ts).
      const scale = await scaleSection(bed, docker, { count: QUICK ? 10 : 50 });
      figures.push(...scale.figures);
      notes.push(...scale.notes);
      details.scale = scale.details;
    }
  } finally {
    await killHard(worker);
    await bed.teardown();
  }
  const file = writeRaw(begun, { kind: 'bench', runs: RUNS, quick: QUICK, versions, notes, figures, details });
  log(`raw figures written to ${file}`);
  if (!QUICK) {
    // RESULTS.md from every file in bench/results/ and the hand-written analysis (bench/report.ts).
    execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'report.ts')], { stdio: 'inherit' });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
