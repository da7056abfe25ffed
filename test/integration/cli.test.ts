/**
 * The `dockflow` command as a user runs it: a separate process talking to a
 * real Temporal server, whose worker drives the real Docker engine. Also the
 * README's first command (`dockflow dev --demo`), on spare ports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, runCli, nameOf, projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-cli';

const dockflow = runCli;

describe('dockflow CLI', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let env: Record<string, string>;
  let dir: string;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    await removeProject(bed.docker, 'itcli');
    dir = projectDir('itcli', {
      'docker-compose.yml': `
services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo \${GREETING} > /www/index.html && exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 10
`,
      '.env': 'GREETING=hello-from-env-file\n',
    });
  });

  after(async () => {
    await removeProject(bed.docker, 'itcli');
    await removeProject(bed.docker, 'demo');
    await stopWorker?.();
    await bed?.teardown();
  });

  it('prints the plan with --dry-run and changes nothing', async () => {
    const run = await dockflow(['deploy', '-f', path.join(dir, 'docker-compose.yml'), '--dry-run'], env);
    assert.equal(run.code, 0, run.stderr);
    // The project name comes from the directory, as in docker compose.
    assert.match(run.stdout, /create network:itcli_default \(missing\)\ncreate container:itcli-web-1 \(missing\)/);
    assert.deepEqual(await projectContainers(bed.docker, 'itcli'), []);
  });

  it('deploys with visible progress, then reports status as JSON', async () => {
    const run = await dockflow(['deploy', '-f', path.join(dir, 'docker-compose.yml')], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /✔ create itcli-web-1 \(missing\)/);
    assert.match(run.stderr, /✔ wait healthy itcli-web-1/);
    const container = await bed.docker.getContainer('itcli-web-1').inspect();
    assert.ok(container.Config.Cmd?.join(' ').includes('hello-from-env-file'), '.env interpolated');

    const status = await dockflow(['status', '-p', 'itcli', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout);
    assert.equal(parsed.containers.length, 1);
    assert.equal(parsed.containers[0].container, 'itcli-web-1');
    assert.equal(parsed.containers[0].health, 'healthy');
  });

  it('exits 2 with the file and key on an invalid compose file, without starting anything', async () => {
    const bad = projectDir('itclibad', { 'compose.yaml': 'services:\n  web:\n    image: x\n    privileged_mode: true\n' });
    const run = await dockflow(['deploy', '-f', path.join(bad, 'compose.yaml')], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /compose\.yaml: services\.web\.privileged_mode: not supported by dockflow/);
    assert.deepEqual(await projectContainers(bed.docker, 'itclibad'), []);
  });

  // update, rollback and down go through the light client in single-host mode (the SDK reads a
  // run that did not complete): the same exit codes and wording either way.
  it('updates, refuses a bad update with its cause, and rolls back', async () => {
    const scaled = await dockflow(['update', 'web', '-p', 'itcli', '--scale', '2'], env);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.match(scaled.stdout, /^itcli: web updated, now at revision 2\n/);
    assert.match(scaled.stderr, /✔ .*itcli-web-2/);
    assert.deepEqual((await projectContainers(bed.docker, 'itcli')).map(nameOf), ['itcli-web-1', 'itcli-web-2']);

    const missing = await dockflow(['update', 'web', '-p', 'itcli', '--image', 'dockflow-test/not-here:1'], env);
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stderr, /dockflow-test\/not-here:1/);

    const noHosts = await dockflow(['rollback', '-p', 'itcli', '--host-timeout', '3'], env);
    assert.equal(noHosts.code, 2);
    assert.match(noHosts.stderr, /--host-timeout: no hosts are registered/);

    const rolled = await dockflow(['rollback', '-p', 'itcli', '--json'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    const result = JSON.parse(rolled.stdout);
    assert.equal(result.restored, 1);
    assert.ok(result.revision >= 3, `a new revision: ${rolled.stdout}`);
    assert.deepEqual((await projectContainers(bed.docker, 'itcli')).map(nameOf), ['itcli-web-1']);
  });

  it('removes the stack with down', async () => {
    const run = await dockflow(['down', '-p', 'itcli'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /container:itcli-web-1/);
    assert.deepEqual((await projectContainers(bed.docker, 'itcli')).map(nameOf), []);
  });

  it('runs the embedded dev server, UI, worker and demo deploy (`npm start`)', async () => {
    await removeProject(bed.docker, 'demo');
    const [port, uiPort, codecPort, webPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-dev-'));
    const running = dockflow(
      ['dev', '--demo', '--exit-after-demo', '--state-dir', stateDir, '--port', String(port), '--ui-port', String(uiPort), '--codec-port', String(codecPort)],
      { DEMO_WEB_PORT: String(webPort) },
    );
    // While it runs, the Temporal UI answers on the UI port.
    let exited = false;
    running.finally(() => (exited = true)).catch(() => undefined);
    let uiPage = '';
    while (!exited && !uiPage) {
      uiPage = await fetch(`http://127.0.0.1:${uiPort}/`).then((r) => (r.ok ? r.text() : ''), () => '');
      if (!uiPage) await new Promise((r) => setTimeout(r, 250));
    }
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.match(uiPage, /<html/i, 'the Temporal UI served its page');
    assert.match(run.stderr, new RegExp(`Temporal UI: +http://127\\.0\\.0\\.1:${uiPort}`));
    assert.match(run.stderr, /demo deployed: /);
    assert.ok(fs.existsSync(path.join(stateDir, 'temporal.db')), 'the dev server persisted to SQLite under the state dir');
    const res = await fetch(`http://127.0.0.1:${webPort}/`);
    assert.match(await res.text(), /dockflow demo/);
    assert.deepEqual((await projectContainers(bed.docker, 'demo')).map(nameOf), ['demo-api-1', 'demo-db-1', 'demo-migrate-1', 'demo-web-1']);
  });
});
