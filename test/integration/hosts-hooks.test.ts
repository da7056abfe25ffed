/**
 * Deploy hooks across two simulated Docker hosts, through the real CLI:
 * - a pre_deploy hook of a service placed on the second host runs there (it
 *   writes into the service's volume, which exists only on that host; no
 *   hook container ever appears on the first host's engine);
 * - a failing pre_deploy hook changes neither host (same container IDs on
 *   both), and its container is kept on the service's host;
 * - a failing post_deploy hook with failure_action rollback puts both hosts
 *   back to the previous revision, which is still revision 1 (the failed
 *   pre_deploy recorded none).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { TEST_IMAGE, execIn, nameOf, projectContainers, projectDir, runCli } from '../support/harness';
import { type SimulatedHost, startHostsBed, type HostsBed } from '../support/hosts';

const TASK_QUEUE = 'it-hosts-hooks';
const PROJECT = 'hosts-hooks-it';
// Names of their own: other test files simulate host-1 … host-N at the same time.
const H1 = 'hh-host-1';
const H2 = 'hh-host-2';
const DB = `${PROJECT}-db-1`;

interface Release {
  /** Changes both services' environment, so both hosts have something to change. */
  version: number;
  pre: string;
  post?: string;
  failureAction?: 'rollback' | 'pause';
}

/** web on hh-host-1 with no hooks; db on hh-host-2 with volume data and the hooks. */
function compose(r: Release): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    environment: {RELEASE: "${r.version}"}
    deploy:
      placement: {constraints: ["node.hostname == ${H1}"]}
  db:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "exec httpd -f -p 5432 -h /www"]
    stop_grace_period: 1s
    environment: {RELEASE: "${r.version}"}
    volumes: ["data:/data"]
    deploy:
      placement: {constraints: ["node.hostname == ${H2}"]}
${r.failureAction ? `      update_config: {failure_action: ${r.failureAction}}\n` : ''}    x-dockflow:
      hooks:
        pre_deploy: ${JSON.stringify(r.pre)}
${r.post ? `        post_deploy: ${JSON.stringify(r.post)}\n` : ''}volumes:
  data: {}
`;
}

/** The service containers on one host (one-offs apart), name → ID and state: what "unchanged" compares. */
async function containers(docker: Docker): Promise<Record<string, string>> {
  const services = (await projectContainers(docker, PROJECT)).filter((c) => c.Labels['com.docker.compose.oneoff'] !== 'True');
  return Object.fromEntries(services.map((c) => [nameOf(c), `${c.Id} ${c.State}`]));
}

async function hookContainers(docker: Docker): Promise<string[]> {
  return (await docker.listContainers({ all: true })).map(nameOf).filter((n) => n.startsWith(`${PROJECT}-`) && /-(pre|post)deploy-/.test(n));
}

describe('deploy hooks across two hosts', () => {
  let hostsBed: HostsBed;
  let hosts: SimulatedHost[];
  let env: Record<string, string>;
  const started = Date.now();

  const deploy = (r: Release) => runCli(['deploy', '-f', path.join(projectDir(PROJECT, { 'docker-compose.yml': compose(r) }), 'docker-compose.yml'), '--json'], env);

  before(async () => {
    hostsBed = await startHostsBed(TASK_QUEUE, [{ name: H1 }, { name: H2 }], [PROJECT]);
    ({ hosts, env } = hostsBed);
  });

  after(async () => {
    await hostsBed?.teardown();
    console.log(`hosts-hooks.test.ts took ${Date.now() - started} ms`);
  });

  it("runs a pre_deploy hook of a service placed on hh-host-2 on hh-host-2's engine", async () => {
    const run = await deploy({ version: 1, pre: 'echo "$$DOCKFLOW_HOOK $$DOCKFLOW_REVISION" >> /data/hooks.log' }); // $$: compose interpolation
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { hosts: Record<string, string>; hooks?: string[]; revision: number };
    assert.deepEqual(result.hosts, { db: H2, web: H1 });
    assert.equal(result.revision, 1);
    assert.deepEqual(result.hooks?.map((h) => h.split(':')[0]), ['pre_deploy hook in a one-off container of db']);
    // The volume lives on hh-host-2 only: the hook's line is in it, so its one-off container ran there, once.
    const log = (await execIn(hosts[1].docker, DB, ['cat', '/data/hooks.log'])).trim().split('\n');
    assert.equal(log.length, 1, log.join('|'));
    assert.equal(log[0], 'pre_deploy 1');
    assert.equal((await hosts[0].docker.listVolumes()).Volumes.some((v) => v.Name.startsWith(PROJECT)), false, 'no volume of the project on hh-host-1');
    // A successful hook's container is removed; none ever was on hh-host-1.
    assert.deepEqual(await hookContainers(hosts[0].docker), []);
    assert.deepEqual(await hookContainers(hosts[1].docker), []);
  });

  it('a failing pre_deploy hook on hh-host-2 leaves both hosts unchanged, its container kept on hh-host-2', async () => {
    const before = [await containers(hosts[0].docker), await containers(hosts[1].docker)];
    assert.equal(Object.keys(before[0]).length + Object.keys(before[1]).length, 2);
    const run = await deploy({ version: 2, pre: 'echo "schema check failed" >&2; exit 3' });
    assert.notEqual(run.code, 0, run.stdout);
    assert.match(
      run.stderr,
      /deploy of hosts-hooks-it stopped before changing any container: pre_deploy hook of service db \(services\.db\.x-dockflow\.hooks\.pre_deploy\) on hh-host-2 exited with code 3\./,
    );
    assert.match(run.stderr, /schema check failed/);
    assert.deepEqual([await containers(hosts[0].docker), await containers(hosts[1].docker)], before, 'same containers, same IDs, on both hosts');
    assert.deepEqual(await hookContainers(hosts[0].docker), []);
    const kept = await hookContainers(hosts[1].docker);
    assert.equal(kept.length, 1, kept.join(', '));
    assert.match(kept[0], /^hosts-hooks-it-db-predeploy-[0-9a-f]{8}$/);
    await hosts[1].docker.getContainer(kept[0]).remove({ force: true });
  });

  it('a failing post_deploy hook with failure_action rollback puts both hosts back', async () => {
    const before = [await containers(hosts[0].docker), await containers(hosts[1].docker)];
    const run = await deploy({ version: 3, pre: 'true', post: 'echo "smoke test failed"; exit 4', failureAction: 'rollback' });
    assert.notEqual(run.code, 0, run.stdout);
    assert.match(run.stderr, /deploy of hosts-hooks-it failed and was rolled back to revision 1: post_deploy hook of service db \(services\.db\.x-dockflow\.hooks\.post_deploy\) on hh-host-2 exited with code 4\./);
    // Back on revision 1 on both hosts: the environment of release 1 (the containers were replaced twice).
    for (const [i, host] of hosts.entries()) {
      const now = await containers(host.docker);
      assert.deepEqual(Object.keys(now), Object.keys(before[i]));
      for (const name of Object.keys(now)) {
        assert.equal((await execIn(host.docker, name, ['sh', '-c', 'echo $RELEASE'])).trim(), '1', `${name} on ${host.name}`);
      }
    }
    assert.deepEqual(await hookContainers(hosts[0].docker), []);
  });
});
