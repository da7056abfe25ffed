/**
 * Private Docker daemons: one per simulated host of `dockflow dev --hosts N`
 * and of the multi-host test bed (src/dev/simulated-hosts.ts), and one for
 * the chaos harness (test/chaos/daemon.ts).
 *
 * Each is the same dockerd binary with its own socket, data root, exec root
 * (hence its own containerd) and address pool; restarting it is a real
 * daemon restart: without live-restore every container is stopped, and only
 * those with a restart policy are started again. Restarting one stops only
 * its own containers, not whatever runs on the machine's main engine.
 *
 * It runs in a network namespace of its own (`ip netns`): a second dockerd
 * in the host's namespace deletes the host's docker0 when it starts, and the
 * two would share iptables chains. Its unix socket is a file, so clients on
 * the host reach it all the same; its containers need no host network (and
 * have none: a port they publish is published inside their namespace).
 *
 * Needs root, like the test bed's own dockerd.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';

/** Where one private daemon keeps its state; each daemon needs its own of every one. */
export interface DaemonPlace {
  /** Pid file, log, exec root (containerd's state) live here; keep it short (unix socket paths). */
  runDir: string;
  dataRoot: string;
  socketPath: string;
  /** The network namespace it runs in (`ip netns` name). */
  netns: string;
}

export interface PrivateDaemon {
  socketPath: string;
  docker: Docker;
  /** The daemon's log: what it did to the containers (restarts on boot, failed starts, kills). */
  logFile: string;
  /**
   * SIGTERM the daemon, wait for it to exit, start it again and wait until it answers.
   * `whileStopping` runs once the signal is sent, while the daemon shuts down (its
   * listener is closed then, but connections it already accepted are still served).
   */
  restart(whileStopping?: () => Promise<void>): Promise<void>;
  /**
   * A machine losing power, as far as one machine can play it: SIGKILL to dockerd, its
   * containerd and every container's shim, so the containers die with it and nothing
   * shuts down in order. `start()` boots it again.
   */
  kill(): Promise<void>;
  /** Start it again after `kill()` or `stop()` (nothing when it answers). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const logFileOf = (place: DaemonPlace) => `${place.runDir}/dockerd.log`;

/** Start the daemon of `place`, or reuse it when it already answers. */
export async function startPrivateDaemon(place: DaemonPlace): Promise<PrivateDaemon> {
  const docker = new Docker({ socketPath: place.socketPath });
  if (!(await answers(docker))) {
    // One left by an earlier run that no longer answers (or answers on another socket) would
    // share this data root and exec root with the new one: it goes first.
    await terminate(place);
    await launch(docker, place);
  }
  return {
    socketPath: place.socketPath,
    docker,
    logFile: logFileOf(place),
    async restart(whileStopping?: () => Promise<void>) {
      await terminate(place, whileStopping);
      await launch(docker, place);
    },
    async kill() {
      // The containers' first processes go first: a shim's death alone would orphan them alive.
      const containers = await docker.listContainers().catch(() => []);
      for (const c of containers) {
        const pid = await docker.getContainer(c.Id).inspect().then((i) => i.State.Pid, () => 0);
        if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      }
      for (const program of ['dockerd', 'containerd', 'containerd-shim']) {
        for (const pid of program === 'dockerd' ? daemonPid(place) : processesWith(program, `${place.runDir}/exec/`)) process.kill(pid, 'SIGKILL');
      }
      const deadline = Date.now() + 10_000;
      while (daemonPid(place).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    },
    async start() {
      if (!(await answers(docker))) await launch(docker, place);
    },
    async stop() {
      await terminate(place);
      // Shims of starts that a restart interrupted outlive every daemon (they are what wedges
      // a container, see activities/wedge.ts); once the harness is done they are only litter.
      for (const shim of processesWith('containerd-shim', `${place.runDir}/exec/`)) process.kill(shim, 'SIGKILL');
    },
  };
}

async function answers(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/** The daemon's own network namespace, with its loopback up (idempotent). */
function ensureNetns(netns: string): void {
  const existing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (!existing.split('\n').some((line) => line.split(' ')[0] === netns)) execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
}

async function launch(docker: Docker, place: DaemonPlace): Promise<void> {
  fs.mkdirSync(place.runDir, { recursive: true });
  fs.mkdirSync(path.dirname(place.socketPath), { recursive: true });
  ensureNetns(place.netns);
  const logFile = logFileOf(place);
  const log = fs.openSync(logFile, 'a');
  const args = [
    `--host=unix://${place.socketPath}`,
    `--data-root=${place.dataRoot}`,
    `--exec-root=${place.runDir}/exec`,
    `--pidfile=${place.runDir}/dockerd.pid`,
  ];
  // nsenter joins the network namespace only (`ip netns exec` would also remount /sys, hiding
  // the cgroup mounts dockerd needs) and execs dockerd, so the child is dockerd itself.
  const child = spawn('nsenter', [`--net=/run/netns/${place.netns}`, 'dockerd', ...args], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  fs.closeSync(log);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await answers(docker)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the private dockerd did not answer on ${place.socketPath} within 60 s; see ${logFile}`);
}

/** The daemon's pid, when it runs (a list of none or one). */
function daemonPid(place: DaemonPlace): number[] {
  const pidFile = `${place.runDir}/dockerd.pid`;
  const pid = Number.parseInt(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : '', 10);
  return Number.isFinite(pid) && alive(pid) ? [pid] : [];
}

async function terminate(place: DaemonPlace, whileStopping?: () => Promise<void>): Promise<void> {
  const [pid] = daemonPid(place);
  if (pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  await whileStopping?.();
  // dockerd stops its containers first (up to its shutdown timeout), then exits.
  const deadline = Date.now() + 60_000;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`the private dockerd (pid ${pid}) did not exit within 60 s of SIGTERM`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Its containerd may outlive it by a moment; a new daemon started meanwhile would start a
  // second containerd on the same state directory, whose socket the old one then deletes.
  for (const child of processesWith('containerd', `${place.runDir}/exec/`)) {
    while (alive(child)) {
      if (Date.now() > deadline) {
        process.kill(child, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** PIDs of processes whose program is `program` with an argument under `argPrefix` (a private daemon's exec root). */
function processesWith(program: string, argPrefix: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (path.basename(cmdline[0] ?? '').startsWith(program) && cmdline.some((arg) => arg.includes(argPrefix))) {
        // `containerd` must not match `containerd-shim-...` when the daemon itself is meant.
        if (program === 'containerd' && path.basename(cmdline[0]) !== 'containerd') continue;
        pids.push(Number(entry));
      }
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
