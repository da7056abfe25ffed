/**
 * The start-first rolling update under load, with a close look at the slow
 * requests: 3 replicas of a small web service, a client container looping on
 * the service alias, one update. Side by side in one run:
 *
 *   - dockflow as it is in this checkout (worker in this process);
 *   - dockflow as it was at an earlier commit (`--before <dir>`: a checkout,
 *     e.g. `git archive <commit> | tar -x -C <dir>` with node_modules linked;
 *     its worker runs in its own process on its own task queue);
 *   - Swarm's `service update --update-order start-first` (the anchor).
 *
 *   TEMPORAL_CLI_PATH="$(bash scripts/testbed.sh all | tail -n 1)" npx tsx bench/rolling.ts [--runs 3] [--before /tmp/dir] [--no-swarm] [--trace]
 *
 * Every request is logged with its start and end (kernel uptime, 10 ms), so a
 * gap can be told apart from one slow request. The client's TCP counters
 * (RetransSegs, ActiveOpens, AttemptFails) are read from its network
 * namespace before and after. `--trace` also records the client's packets
 * (tcpdump in its namespace: SYN/RST on port 80 and DNS on the embedded
 * resolver) and Docker's network events, to say what each slow request met.
 * Raw figures go to bench/results/rolling-<time>.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { loadStack } from '../src/compose';
import { BASE_IMAGE } from '../src/demo/base-image';
import { numericFlag, sh } from './support';
import { execIn, killHard, projectDir, removeProject, spawnPolling, startTestBed, startWorker, type TestBed } from '../test/support/harness';

const argv = process.argv.slice(2);
const RUNS = numericFlag('--runs', 3, argv);
const BEFORE = argv.includes('--before') ? argv[argv.indexOf('--before') + 1] : undefined;
const SWARM = !argv.includes('--no-swarm');
const TRACE = argv.includes('--trace');
const TASK_QUEUE = 'perf-rollout-bench';
const BEFORE_QUEUE = 'perf-rollout-bench-before';
const log = (line: string) => console.log(`[rolling] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** One line per request: ok|fail, start and end in seconds of kernel uptime. */
const CLIENT_SCRIPT =
  "while [ ! -f /tmp/stop ]; do s=$(cut -d' ' -f1 /proc/uptime); if wget -q -O /dev/null http://web/ 2>/dev/null; then r=ok; else r=fail; fi; " +
  "echo \"$r $s $(cut -d' ' -f1 /proc/uptime)\" >> /tmp/log; done; touch /tmp/finished; sleep 3600";

interface Request {
  ok: boolean;
  start: number;
  end: number;
}

export interface RollingRun {
  tool: string;
  run: number;
  ok: number;
  failed: number;
  /** Longest time between two successful responses' ends, as bench/run.ts measures it. */
  longestGapS: number;
  /** The slowest single request. */
  slowestRequestS: number;
  /** Requests that took 0.5 s or more: start (s after the update began) and duration. */
  slowRequests: { atS: number; tookS: number; ok: boolean }[];
  durationS: number;
  /** The client's TCP counters over the whole run (its own network namespace). */
  tcp: { retransSegs: number; activeOpens: number; attemptFails: number; estabResets: number };
  /**
   * With --trace: the client's packets around each slow request, Docker's
   * network events, the host's veth deletions, and for each replica address
   * that existed before the update the last DNS answer that still named it
   * (all in s after the update began).
   */
  trace?: { packets: string[]; events: string[]; vethDeleted: number[]; lastAnswerNaming: Record<string, number | null> };
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

function uptimeNow(): number {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

async function tcpCounters(docker: Docker, client: string): Promise<Record<string, number>> {
  const text = await execIn(docker, client, ['cat', '/proc/net/snmp']);
  const lines = text.split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0].trim().split(/\s+/).slice(1);
  const values = lines[1].trim().split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

interface Load {
  client: string;
  counters: Record<string, number>;
  dump?: ChildProcess;
  dumpFile?: string;
  links?: ChildProcess;
  linksFile?: string;
  /** The service's addresses when the load started: the replicas the update replaces. */
  replicaIps: string[];
}

async function startLoad(docker: Docker, client: string, network: string): Promise<Load> {
  await docker.getContainer(client).remove({ force: true }).catch(() => undefined);
  const c = await docker.createContainer({ name: client, Image: BASE_IMAGE, Cmd: ['sh', '-c', CLIENT_SCRIPT], HostConfig: { NetworkMode: network } });
  await c.start();
  const answer = await execIn(docker, client, ['nslookup', 'web', '127.0.0.11']).catch(() => '');
  const replicaIps = [...answer.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]).filter((ip) => ip !== '127.0.0.11');
  const load: Load = { client, counters: await tcpCounters(docker, client), replicaIps };
  if (TRACE) {
    const pid = String((await c.inspect()).State.Pid);
    load.dumpFile = path.join(os.tmpdir(), `${client}-${Date.now()}.txt`);
    const out = fs.openSync(load.dumpFile, 'w');
    // SYN, RST and FIN of the HTTP connections, and DNS to the embedded resolver, with uptime-comparable epoch times.
    load.dump = spawn('nsenter', ['-t', pid, '-n', 'tcpdump', '-i', 'any', '-nn', '-l', '-tt', '(tcp port 80 and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0) or (host 127.0.0.11 and udp)'], {
      stdio: ['ignore', out, 'ignore'],
    });
    // The host's link events: a container's veth goes when its endpoint leaves the network.
    load.linksFile = path.join(os.tmpdir(), `${client}-links-${Date.now()}.txt`);
    load.links = spawn('ip', ['-ts', '-o', 'monitor', 'link'], { stdio: ['ignore', fs.openSync(load.linksFile, 'w'), 'ignore'] });
  }
  await sleep(2000);
  return load;
}

async function stopLoad(docker: Docker, load: Load, updateStartUptime: number, updateStartEpoch: number, events: string[]): Promise<Omit<RollingRun, 'tool' | 'run' | 'durationS'>> {
  const { client } = load;
  await execIn(docker, client, ['touch', '/tmp/stop']);
  for (let i = 0; i < 100 && !(await execIn(docker, client, ['sh', '-c', 'test -f /tmp/finished && echo y']).catch(() => '')).includes('y'); i++) await sleep(100);
  const after = await tcpCounters(docker, client);
  const lines = (await execIn(docker, client, ['cat', '/tmp/log'])).trim().split('\n').filter(Boolean);
  for (const child of [load.dump, load.links]) {
    if (!child) continue;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
  await docker.getContainer(client).remove({ force: true });
  const requests: Request[] = lines.map((l) => {
    const [r, s, e] = l.split(' ');
    return { ok: r === 'ok', start: Number(s), end: Number(e) };
  });
  let lastOk: number | undefined;
  let gap = 0;
  for (const r of requests) {
    if (!r.ok) continue;
    if (lastOk !== undefined) gap = Math.max(gap, r.end - lastOk);
    lastOk = r.end;
  }
  const slow = requests.filter((r) => r.end - r.start >= 0.5);
  const result: Omit<RollingRun, 'tool' | 'run' | 'durationS'> = {
    ok: requests.filter((r) => r.ok).length,
    failed: requests.filter((r) => !r.ok).length,
    longestGapS: round(gap),
    slowestRequestS: round(Math.max(0, ...requests.map((r) => r.end - r.start))),
    slowRequests: slow.map((r) => ({ atS: round(r.start - updateStartUptime), tookS: round(r.end - r.start), ok: r.ok })),
    tcp: {
      retransSegs: after.RetransSegs - load.counters.RetransSegs,
      activeOpens: after.ActiveOpens - load.counters.ActiveOpens,
      attemptFails: after.AttemptFails - load.counters.AttemptFails,
      estabResets: after.EstabResets - load.counters.EstabResets,
    },
  };
  if (load.dumpFile) {
    // Packets from 0.2 s before each slow request to its end, times relative to the update's start.
    const offset = updateStartEpoch / 1000 - updateStartUptime;
    const packets = fs.readFileSync(load.dumpFile, 'utf8').split('\n').filter(Boolean);
    const near = packets.filter((p) => {
      const t = Number(p.split(' ')[0]) - offset;
      return slow.some((r) => t >= r.start - 0.2 && t <= r.end + 0.05);
    });
    const rel = (epochS: number) => round(epochS - updateStartEpoch / 1000, 3);
    const lastAnswerNaming: Record<string, number | null> = {};
    for (const ip of load.replicaIps) {
      const naming = packets.filter((p) => p.includes('127.0.0.11.53 >') && (p.includes(`A ${ip},`) || p.includes(`A ${ip} `)));
      lastAnswerNaming[ip] = naming.length ? rel(Number(naming[naming.length - 1].split(' ')[0])) : null;
    }
    // `ip -ts` prints local wall time: [2026-11-30T20:01:02.123456] ...
    const vethDeleted = fs
      .readFileSync(load.linksFile!, 'utf8')
      .split('\n')
      .filter((l) => /Deleted/.test(l) && /veth/.test(l))
      .map((l) => rel(new Date(l.slice(1, l.indexOf(']'))).getTime() / 1000));
    result.trace = { packets: near.map((p) => `${round(Number(p.split(' ')[0]) - offset - updateStartUptime, 3)} ${p.split(' ').slice(1).join(' ')}`), events, vethDeleted, lastAnswerNaming };
    fs.rmSync(load.dumpFile, { force: true });
    fs.rmSync(load.linksFile!, { force: true });
  }
  return result;
}

/** Docker's network and container events between two times, relative to the update's start. */
async function dockerEvents(docker: Docker, sinceMs: number, untilMs: number, filter: (actor: string) => boolean): Promise<string[]> {
  const stream = (await docker.getEvents({ since: Math.floor(sinceMs / 1000), until: Math.ceil(untilMs / 1000) })) as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  const out: string[] = [];
  for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean)) {
    const e = JSON.parse(line) as { Type: string; Action: string; timeNano: number; Actor: { ID: string; Attributes: Record<string, string> } };
    const name = e.Actor.Attributes.name ?? '';
    const container = e.Actor.Attributes.container ?? '';
    if (!filter(`${name} ${container}`) || /exec_|health_status/.test(e.Action)) continue;
    out.push(`${round(e.timeNano / 1e6 / 1000 - sinceMs / 1000, 3)} ${e.Type} ${e.Action} ${name}${container ? ` container=${container.slice(0, 12)}` : ''}`);
  }
  return out;
}

async function dockflowRun(bed: TestBed, docker: Docker, tool: string, taskQueue: string, project: string, run: number): Promise<RollingRun> {
  await removeProject(docker, project);
  const dir = projectDir(project, { 'docker-compose.yml': `name: ${project}\nservices:${WEB(1)}` });
  const specOf = (release: number) => {
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), `name: ${project}\nservices:${WEB(release)}`);
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };
  const client = `${project}-client`;
  try {
    await bed.env.client.workflow.execute('deploy', { taskQueue, workflowId: `${project}-init-${run}-${Date.now()}`, args: [{ spec: specOf(1) }] });
    const load = await startLoad(docker, client, `${project}_default`);
    const t = Date.now();
    const u = uptimeNow();
    await bed.env.client.workflow.execute('deploy', { taskQueue, workflowId: `${project}-${run}-${Date.now()}`, args: [{ spec: specOf(2) }] });
    const durationS = round((Date.now() - t) / 1000, 1);
    await sleep(1000);
    const events = TRACE ? await dockerEvents(docker, t, Date.now(), (actor) => actor.includes(project)) : [];
    const r = await stopLoad(docker, load, u, t, events);
    log(`${tool} #${run}: ${r.ok} ok, ${r.failed} failed, longest gap ${r.longestGapS} s, slowest request ${r.slowestRequestS} s, ${durationS} s, tcp ${JSON.stringify(r.tcp)}`);
    return { tool, run, durationS, ...r };
  } finally {
    await docker.getContainer(client).remove({ force: true }).catch(() => undefined);
    await removeProject(docker, project);
  }
}

async function swarmRun(docker: Docker, run: number): Promise<RollingRun> {
  const tool = 'swarm service update --update-order start-first';
  const state = (await docker.info()).Swarm?.LocalNodeState;
  const ownSwarm = state !== 'active';
  if (ownSwarm) sh('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  const service = 'perf-rollout-web';
  const network = 'perf-rollout-swarm';
  const client = 'perf-rollout-swarm-client';
  try {
    spawnSync('docker', ['service', 'rm', service]);
    spawnSync('docker', ['network', 'rm', network]);
    await sleep(1000);
    sh('docker', ['network', 'create', '-d', 'overlay', '--attachable', network]);
    const health = ['--health-cmd', 'wget -q -O /dev/null http://127.0.0.1/', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '3'];
    sh('docker', ['service', 'create', '--detach', '--name', service, '--replicas', '3', '--endpoint-mode', 'dnsrr', '--network', `name=${network},alias=web`, '--init', '--env', 'RELEASE=1', ...health, '--no-resolve-image', BASE_IMAGE, 'sh', '-c', 'echo $RELEASE > /www/index.html; sleep 2; exec httpd -f -p 80 -h /www']);
    const converged = async () => {
      for (let i = 0; i < 600; i++) {
        const tasks = sh('docker', ['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).trim().split('\n');
        const status = sh('docker', ['service', 'inspect', service, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}']).trim();
        if (tasks.length === 3 && tasks.every((s) => s.startsWith('Running')) && (status === '' || status === 'completed')) return;
        await sleep(200);
      }
      throw new Error('the swarm service did not converge within 120 s');
    };
    await converged();
    await sleep(3000);
    const load = await startLoad(docker, client, network);
    const t = Date.now();
    const u = uptimeNow();
    sh('docker', ['service', 'update', '--detach', '--update-order', 'start-first', '--update-parallelism', '1', '--no-resolve-image', '--env-add', 'RELEASE=2', service]);
    await sleep(500);
    await converged();
    const durationS = round((Date.now() - t) / 1000, 1);
    await sleep(1000);
    const r = await stopLoad(docker, load, u, t, []);
    log(`${tool} #${run}: ${r.ok} ok, ${r.failed} failed, longest gap ${r.longestGapS} s, slowest request ${r.slowestRequestS} s, ${durationS} s, tcp ${JSON.stringify(r.tcp)}`);
    return { tool, run, durationS, ...r };
  } finally {
    spawnSync('docker', ['rm', '-f', client]);
    spawnSync('docker', ['service', 'rm', service]);
    await sleep(2000);
    spawnSync('docker', ['network', 'rm', network]);
    // The swarm is left as it was found.
    if (ownSwarm) spawnSync('docker', ['swarm', 'leave', '--force']);
  }
}

/** A worker from an earlier checkout, in its own process (it bundles its own workflows). */
async function spawnBeforeWorker(bed: TestBed, dir: string): Promise<ChildProcess> {
  const child = await spawnPolling([path.join(dir, 'workers', 'main.ts')], {
    cwd: dir,
    env: { TEMPORAL_ADDRESS: bed.address, TEMPORAL_NAMESPACE: 'default', DOCKFLOW_TASK_QUEUE: BEFORE_QUEUE, DOCKFLOW_STATE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'perf-rollout-before-')) },
    tsx: true,
    timeoutMs: 120_000,
    label: 'the earlier worker',
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

function summary(runs: RollingRun[]): Record<string, Record<string, { min: number; median: number; max: number }>> {
  const out: Record<string, Record<string, { min: number; median: number; max: number }>> = {};
  for (const tool of [...new Set(runs.map((r) => r.tool))]) {
    const mine = runs.filter((r) => r.tool === tool);
    const stat = (values: number[]) => {
      const s = [...values].sort((a, b) => a - b);
      return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
    };
    out[tool] = {
      failed: stat(mine.map((r) => r.failed)),
      longestGapS: stat(mine.map((r) => r.longestGapS)),
      slowestRequestS: stat(mine.map((r) => r.slowestRequestS)),
      durationS: stat(mine.map((r) => r.durationS)),
      retransSegs: stat(mine.map((r) => r.tcp.retransSegs)),
    };
  }
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = os.loadavg().map((l) => round(l)).join(' ');
  const bed = await startTestBed(TASK_QUEUE);
  const docker = bed.docker;
  const stopWorker = await startWorker(bed);
  const before = BEFORE ? await spawnBeforeWorker(bed, BEFORE) : undefined;
  const runs: RollingRun[] = [];
  const failures: { tool: string; run: number; error: string }[] = [];
  const stamp = started.toISOString().slice(0, 16).replace(':', '-');
  const file = path.join(__dirname, 'results', `rolling-${stamp}Z.json`);
  // Written after every run, so a later failure keeps what was measured.
  const write = () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const document = {
      bench: 'rolling',
      started: started.toISOString(),
      finished: new Date().toISOString(),
      load: { before: loadBefore, after: os.loadavg().map((l) => round(l)).join(' ') },
      cpus: os.cpus().length,
      ...(BEFORE ? { before: 'dockflow before: a worker from an earlier checkout' } : {}),
      summary: summary(runs),
      failures,
      runs,
    };
    fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  };
  const attempt = async (tool: string, run: number, measure: () => Promise<RollingRun>) => {
    try {
      runs.push(await measure());
    } catch (err) {
      // A run that failed (e.g. a 1 s health check timing out on a loaded machine) is recorded, not hidden.
      const error = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      failures.push({ tool, run, error: error.slice(0, 500) });
      log(`${tool} #${run} failed: ${error.slice(0, 300)}`);
    }
    write();
  };
  try {
    for (let run = 0; run < RUNS; run++) {
      if (before) await attempt('dockflow before (start-first)', run, () => dockflowRun(bed, docker, 'dockflow before (start-first)', BEFORE_QUEUE, 'perf-rollout-b', run));
      await attempt('dockflow (start-first)', run, () => dockflowRun(bed, docker, 'dockflow (start-first)', TASK_QUEUE, 'perf-rollout-a', run));
      if (SWARM) await attempt('swarm service update --update-order start-first', run, () => swarmRun(docker, run));
    }
  } finally {
    if (before) await killHard(before);
    await stopWorker();
    await bed.teardown();
  }
  write();
  console.log(JSON.stringify(summary(runs), null, 2));
  log(`written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
