/**
 * `dockflow dev --hosts 2` as a user runs it: one process with its Temporal
 * dev server, two simulated hosts (a private dockerd each, socket under the
 * state dir) and a worker per host. A 2-host stack goes out through the CLI,
 * with an image only the machine's engine has (the hosts load it from there
 * when the deploy needs it), and Ctrl-C stops everything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { REPO_ROOT, TEST_IMAGE, buildImage, dockerOrFail, freePort, nameOf, projectContainers, projectDir, runCli } from '../support/harness';
import { ensureBaseImage } from '../../src/demo/base-image';
import { forgetPlace, simulatedHostPlace } from '../../src/dev/simulated-hosts';

const PROJECT = 'hosts-bed-dev';
/** Built on the machine's engine only: host-2 gets it when the deploy asks for it. */
const APP_IMAGE = 'hosts-bed-dev/app:1';

const COMPOSE = `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    deploy:
      placement: {constraints: ["node.hostname == host-1"]}
  api:
    image: ${APP_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 8080 -h /www"]
    stop_grace_period: 1s
    depends_on: [web]
    deploy:
      placement: {constraints: ["node.hostname == host-2"]}
`;

/** Processes whose command line mentions one of `needles`, as "pid command". */
function processesMentioning(needles: string[]): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (needles.some((n) => cmdline.includes(n))) found.push(`${entry} ${cmdline.slice(0, 160)}`);
    } catch {
      // It exited while we looked.
    }
  }
  return found;
}

describe('dockflow dev --hosts 2', () => {
  const started = Date.now();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hosts-bed-dev-'));
  let dev: ChildProcess;
  let output = '';
  let env: Record<string, string>;
  let docker: Docker;

  before(async () => {
    docker = await dockerOrFail();
    await ensureBaseImage(docker);
    await buildImage(docker, APP_IMAGE, `FROM ${TEST_IMAGE}\nLABEL hosts-bed-dev=1\n`);
    const [port, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
    dev = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dockflow.js'), 'dev', '--hosts', '2', '--state-dir', stateDir, '--port', String(port), '--ui-port', String(uiPort), '--codec-port', String(codecPort)], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', DOCKFLOW_ENCRYPTION_KEY: '', DOCKFLOW_ENCRYPTION_KEY_FILE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout!.on('data', (c) => (output += c));
    dev.stderr!.on('data', (c) => (output += c));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dockflow dev --hosts 2 did not get ready within 240 s:\n${output}`)), 240_000);
      const check = () => {
        if (output.includes('Ctrl-C to stop')) {
          clearTimeout(timer);
          resolve();
        }
      };
      dev.stderr!.on('data', check);
      dev.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dockflow dev exited with ${code} before it was ready:\n${output}`));
      });
    });
    dev.removeAllListeners('exit');
    env = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, DOCKFLOW_TASK_QUEUE: 'dockflow', DOCKFLOW_ENCRYPTION_KEY_FILE: path.join(stateDir, 'keys', 'encryption.key') };
    console.log(`dockflow dev --hosts 2 ready in ${Date.now() - started} ms`);
  });

  after(async () => {
    if (dev && dev.exitCode === null && dev.signalCode === null) {
      dev.kill('SIGKILL');
      await new Promise((r) => dev.once('exit', r));
    }
    // The dev setup keeps its hosts' data for its next start; a test's is thrown away.
    for (const name of ['host-1', 'host-2']) {
      const place = simulatedHostPlace(stateDir, name);
      const pid = Number.parseInt(fs.existsSync(`${place.runDir}/dockerd.pid`) ? fs.readFileSync(`${place.runDir}/dockerd.pid`, 'utf8') : '', 10);
      if (Number.isFinite(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already stopped by the dev process.
        }
      }
      forgetPlace(place);
    }
    await docker?.getImage(APP_IMAGE).remove().catch(() => undefined);
    fs.rmSync(stateDir, { recursive: true, force: true });
    console.log(`dev-hosts.test.ts took ${Date.now() - started} ms`);
  });

  it('starts host-1 and host-2, each with its socket under the state dir and a worker', async () => {
    assert.match(output, /host-1: +DOCKER_HOST=unix:\/\/.*\/hosts\/host-1\/docker\.sock, worker on "dockflow@host-1"/);
    const run = await runCli(['hosts', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const { hosts } = JSON.parse(run.stdout) as { hosts: { name: string; dockerVersion?: string; error?: string }[] };
    assert.deepEqual(hosts.map((h) => [h.name, h.error]), [['host-1', undefined], ['host-2', undefined]]);
    for (const h of hosts) assert.match(h.dockerVersion ?? '', /^20\.10/);
  });

  it('deploys a 2-host stack through the CLI, loading an image the host lacks from the machine\'s engine', async () => {
    const file = path.join(projectDir(PROJECT, { 'docker-compose.yml': COMPOSE }), 'docker-compose.yml');
    const run = await runCli(['deploy', '-f', file, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).hosts, { api: 'host-2', web: 'host-1' });
    const host = (name: string) => new Docker({ socketPath: path.join(stateDir, 'hosts', name, 'docker.sock') });
    const on1 = await projectContainers(host('host-1'), PROJECT);
    const on2 = await projectContainers(host('host-2'), PROJECT);
    assert.deepEqual(on1.map((c) => [nameOf(c), c.State]), [[`${PROJECT}-web-1`, 'running']]);
    assert.deepEqual(on2.map((c) => [nameOf(c), c.State]), [[`${PROJECT}-api-1`, 'running']]);
    // The same image, loaded (not rebuilt): host-2 has the engine's image ID; host-1 never needed it.
    assert.equal((await host('host-2').getImage(APP_IMAGE).inspect()).Id, (await docker.getImage(APP_IMAGE).inspect()).Id);
    await assert.rejects(host('host-1').getImage(APP_IMAGE).inspect());
    assert.deepEqual(await projectContainers(docker, PROJECT), [], 'nothing on the machine\'s engine');
  });

  it('stops the workers and the hosts\' daemons on Ctrl-C, and exits 0', async () => {
    const exited = new Promise<number | null>((r) => dev.once('exit', (code) => r(code)));
    dev.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 90_000)))]);
    // A pending timer would keep this test file's process alive for its whole 90 s.
    clearTimeout(timer);
    assert.equal(code, 0, output.slice(-2000));
    for (const name of ['host-1', 'host-2']) {
      const socketPath = path.join(stateDir, 'hosts', name, 'docker.sock');
      await assert.rejects(new Docker({ socketPath }).ping(), `${name}'s daemon still answers`);
    }
    // Nothing it started outlives it: no Temporal server on its database, no dockerd, containerd or shim of its hosts.
    const runDirs = ['host-1', 'host-2'].map((name) => simulatedHostPlace(stateDir, name).runDir);
    assert.deepEqual(processesMentioning([stateDir, ...runDirs]), []);
  });
});
