/**
 * Docker alone, no dockflow: how long does the embedded DNS keep naming a
 * container whose interface already left the network? The step start-first
 * needs (take the old replica out of the service alias while it keeps its
 * connections) is `network disconnect` + `network connect` without the alias;
 * this probe repeats it under load and reads, for each cycle:
 *
 *   - when the replica's interface went down (the first host link event of
 *     the cycle: the endpoint leaving the container) and when its veth was
 *     deleted (the endpoint deleted), from `ip -ts monitor link`;
 *   - the last DNS answer for the alias that still named the replica's
 *     address (tcpdump in the client's network namespace);
 *   - the SYNs the client sent to that address that were never answered
 *     (retransmitted with the same sequence number after Linux's 1 s RTO).
 *
 *   npx tsx bench/dns-window.ts [--cycles 12]
 *
 * Raw figures go to bench/results/dns-window-<time>.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import { BASE_IMAGE, ensureBaseImage } from '../src/demo/base-image';
import { numericFlag } from './support';

const CYCLES = numericFlag('--cycles', 12);
const PREFIX = 'perf-rollout-probe';
const NETWORK = `${PREFIX}-net`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const log = (line: string) => console.log(`[dns-window] ${line}`);

// (This busybox's wget crashes with -T.)
const CLIENT_SCRIPT = 'while true; do wget -q -O /dev/null http://web/ 2>/dev/null; done';

async function cleanup(docker: Docker): Promise<void> {
  for (const c of await docker.listContainers({ all: true, filters: { name: [PREFIX] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await docker.getNetwork(NETWORK).remove().catch(() => undefined);
}

interface Cycle {
  replica: string;
  ip: string;
  /** All times in s after the cycle's disconnect call was sent. */
  disconnectReturnedS: number;
  connectReturnedS: number;
  /** The first host link event of the cycle: the container's interface set down and moved out (the endpoint leaving). */
  interfaceDownS: number | null;
  /** The veth deleted: the endpoint deleted, after which the daemon releases the address. */
  vethDeletedS: number | null;
  lastAnswerNamingS: number | null;
  /** lastAnswerNaming - interfaceDown: how long DNS still named an address whose interface no longer carried traffic. */
  dnsAfterInterfaceDownS: number | null;
  lostSyns: number;
}

async function main(): Promise<void> {
  const docker = new Docker();
  await ensureBaseImage(docker);
  await cleanup(docker);
  const started = new Date();
  const loadBefore = os.loadavg().map((l) => round(l, 2)).join(' ');
  await docker.createNetwork({ Name: NETWORK, Driver: 'bridge' });
  const replicas = [1, 2, 3].map((n) => `${PREFIX}-web-${n}`);
  for (const name of replicas) {
    const c = await docker.createContainer({
      name,
      Image: BASE_IMAGE,
      Cmd: ['sh', '-c', 'echo ok > /www/index.html; exec httpd -f -p 80 -h /www'],
      HostConfig: { NetworkMode: NETWORK, Init: true },
      NetworkingConfig: { EndpointsConfig: { [NETWORK]: { Aliases: ['web'] } } },
    });
    await c.start();
  }
  const client = await docker.createContainer({ name: `${PREFIX}-client`, Image: BASE_IMAGE, Cmd: ['sh', '-c', CLIENT_SCRIPT], HostConfig: { NetworkMode: NETWORK } });
  await client.start();
  const pid = String((await client.inspect()).State.Pid);
  const dumpFile = path.join(os.tmpdir(), `${PREFIX}-dump-${Date.now()}.txt`);
  const linksFile = path.join(os.tmpdir(), `${PREFIX}-links-${Date.now()}.txt`);
  const dump = spawn('nsenter', ['-t', pid, '-n', 'tcpdump', '-i', 'any', '-nn', '-l', '-tt', '(tcp port 80 and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0) or (host 127.0.0.11 and udp)'], {
    stdio: ['ignore', fs.openSync(dumpFile, 'w'), 'ignore'],
  });
  const links = spawn('ip', ['-ts', '-o', 'monitor', 'link'], { stdio: ['ignore', fs.openSync(linksFile, 'w'), 'ignore'] });
  await sleep(2000);
  const marks: { replica: string; ip: string; t0: number; disconnected: number; connected: number }[] = [];
  try {
    for (let i = 0; i < CYCLES; i++) {
      const replica = replicas[i % replicas.length];
      const ip = (await docker.getContainer(replica).inspect()).NetworkSettings.Networks[NETWORK].IPAddress;
      const network = docker.getNetwork(NETWORK);
      const t0 = Date.now() / 1000;
      await network.disconnect({ Container: replica, Force: true });
      const disconnected = Date.now() / 1000;
      await network.connect({ Container: replica, EndpointConfig: { Aliases: [] } });
      const connected = Date.now() / 1000;
      marks.push({ replica, ip, t0, disconnected, connected });
      await sleep(1500);
      // Back into the alias for the next round (not measured: it is not in DNS while it moves).
      await network.disconnect({ Container: replica, Force: true });
      await network.connect({ Container: replica, EndpointConfig: { Aliases: ['web'] } });
      await sleep(1500);
    }
  } finally {
    dump.kill('SIGINT');
    links.kill('SIGINT');
    await Promise.all([new Promise((r) => dump.once('exit', r)), new Promise((r) => links.once('exit', r))]);
    await cleanup(docker);
  }
  const packets = fs.readFileSync(dumpFile, 'utf8').split('\n').filter(Boolean);
  // `ip -ts` prints the local wall time: [2026-11-30T20:01:02.123456] ...
  const linkEvents = fs
    .readFileSync(linksFile, 'utf8')
    .split('\n')
    .filter((l) => /veth/.test(l))
    .map((l) => ({ at: new Date(l.slice(1, l.indexOf(']'))).getTime() / 1000, deleted: /Deleted/.test(l) }));
  fs.rmSync(dumpFile, { force: true });
  fs.rmSync(linksFile, { force: true });
  const timeOf = (p: string) => Number(p.split(' ')[0]);
  const cycles: Cycle[] = marks.map((m) => {
    const inCycle = linkEvents.filter((e) => e.at >= m.t0 - 0.05 && e.at <= m.connected + 0.05);
    const down = inCycle[0]?.at;
    const veth = inCycle.find((e) => e.deleted)?.at;
    const naming = packets.filter((p) => timeOf(p) >= m.t0 - 1 && timeOf(p) <= m.connected + 0.5 && p.includes('127.0.0.11.53 >') && (p.includes(`A ${m.ip},`) || p.includes(`A ${m.ip} `)));
    const last = naming.length ? timeOf(naming[naming.length - 1]) : undefined;
    // A lost SYN: the same sequence number sent twice to the replica's address.
    const syns = packets.filter((p) => timeOf(p) >= m.t0 - 0.2 && timeOf(p) <= m.connected + 2 && p.includes(`> ${m.ip}.80: Flags [S]`));
    const seqs = syns.map((p) => / seq (\d+)/.exec(p)?.[1]);
    const lostSyns = new Set(seqs.filter((s, i) => s && seqs.indexOf(s) !== i)).size;
    return {
      replica: m.replica,
      ip: m.ip,
      disconnectReturnedS: round(m.disconnected - m.t0),
      connectReturnedS: round(m.connected - m.t0),
      interfaceDownS: down === undefined ? null : round(down - m.t0),
      vethDeletedS: veth === undefined ? null : round(veth - m.t0),
      lastAnswerNamingS: last === undefined ? null : round(last - m.t0),
      dnsAfterInterfaceDownS: down === undefined || last === undefined ? null : round(last - down),
      lostSyns,
    };
  });
  for (const c of cycles) log(JSON.stringify(c));
  const file = path.join(__dirname, 'results', `dns-window-${started.toISOString().slice(0, 16).replace(':', '-')}Z.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const document = {
    bench: 'dns-window',
    started: started.toISOString(),
    load: { before: loadBefore, after: os.loadavg().map((l) => round(l, 2)).join(' ') },
    cpus: os.cpus().length,
    engine: (await docker.version()).Version,
    cyclesWithLostSyn: cycles.filter((c) => c.lostSyns > 0).length,
    cycles,
  };
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  log(`${document.cyclesWithLostSyn} of ${cycles.length} cycles lost a SYN; written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
