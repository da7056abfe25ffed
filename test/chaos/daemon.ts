/**
 * A second, private Docker daemon for the chaos harness, so that restarting
 * dockerd (one of the faults) stops only the chaos project's containers and
 * not whatever else runs on the machine's main engine. It is the same
 * dockerd binary with its own socket, data root, exec root (hence its own
 * containerd) and address pool; restarting it is a real daemon restart:
 * without live-restore every container is stopped, and only those with a
 * restart policy are started again.
 *
 * Needs root, like the test bed's own dockerd.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';

const RUN_DIR = '/run/dockflow-chaos';
const DATA_ROOT = '/var/lib/dockflow-chaos';
const SOCKET = `${RUN_DIR}/docker.sock`;
const PID_FILE = `${RUN_DIR}/dockerd.pid`;
const LOG_FILE = `${RUN_DIR}/dockerd.log`;
/** Far from the main daemon's default pools, so the two never hand out overlapping subnets. */
const ADDRESS_POOL = '10.231.0.0/16';
/** The chaos daemon's default bridge interface, created by the harness. */
const BRIDGE = 'dfchaos0';
const BRIDGE_ADDRESS = '10.232.0.1/24';

export interface ChaosDaemon {
  socketPath: string;
  docker: Docker;
  /** SIGTERM the daemon, wait for it to exit, start it again and wait until it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startChaosDaemon(): Promise<ChaosDaemon> {
  const docker = new Docker({ socketPath: SOCKET });
  if (!(await answers(docker))) await launch(docker);
  allowForwarding();
  return {
    socketPath: SOCKET,
    docker,
    async restart() {
      await terminate();
      await launch(docker);
    },
    async stop() {
      await terminate();
      // Shims of starts that a restart interrupted outlive every daemon (they are what wedges
      // a container, see activities/wedge.ts); once the harness is done they are only litter.
      for (const shim of processesWith('containerd-shim', `${RUN_DIR}/exec/`)) process.kill(shim, 'SIGKILL');
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

/** dockerd's --bridge names an existing interface: create it once (idempotent). */
function ensureBridge(): void {
  try {
    execFileSync('ip', ['link', 'show', BRIDGE], { stdio: 'ignore' });
  } catch {
    execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', BRIDGE_ADDRESS, 'dev', BRIDGE]);
    execFileSync('ip', ['link', 'set', BRIDGE, 'up']);
  }
}

async function launch(docker: Docker): Promise<void> {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  ensureBridge();
  const log = fs.openSync(LOG_FILE, 'a');
  const args = [
    `--host=unix://${SOCKET}`,
    `--data-root=${DATA_ROOT}`,
    `--exec-root=${RUN_DIR}/exec`,
    `--pidfile=${PID_FILE}`,
    // Its own default bridge: with --bridge=none a starting dockerd deletes the host's docker0,
    // which belongs to the main daemon. No iptables rules of its own: the main daemon owns the
    // host's chains; projects use their own networks, which allowForwarding() lets through.
    `--bridge=${BRIDGE}`,
    '--iptables=false',
    '--ip-masq=false',
    `--default-address-pool=base=${ADDRESS_POOL},size=24`,
  ];
  const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  fs.closeSync(log);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await answers(docker)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the chaos dockerd did not answer on ${SOCKET} within 60 s; see ${LOG_FILE}`);
}

async function terminate(): Promise<void> {
  const pid = Number.parseInt(fs.existsSync(PID_FILE) ? fs.readFileSync(PID_FILE, 'utf8') : '', 10);
  if (!Number.isFinite(pid) || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  // dockerd stops its containers first (up to its shutdown timeout), then exits.
  const deadline = Date.now() + 60_000;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`the chaos dockerd (pid ${pid}) did not exit within 60 s of SIGTERM`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Its containerd may outlive it by a moment; a new daemon started meanwhile would start a
  // second containerd on the same state directory, whose socket the old one then deletes.
  for (const child of processesWith('containerd', `${RUN_DIR}/exec/`)) {
    while (alive(child)) {
      if (Date.now() > deadline) {
        process.kill(child, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** PIDs of processes whose program is `program` with an argument under `argPrefix` (the chaos daemon's exec root). */
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

/**
 * The main daemon sets the host's FORWARD policy to DROP; traffic between the
 * chaos daemon's containers must be accepted explicitly. Idempotent.
 */
function allowForwarding(): void {
  const rule = ['FORWARD', '-s', ADDRESS_POOL, '-d', ADDRESS_POOL, '-j', 'ACCEPT'];
  try {
    execFileSync('iptables', ['-C', ...rule], { stdio: 'ignore' });
  } catch {
    execFileSync('iptables', ['-I', ...rule], { stdio: 'ignore' });
  }
}
