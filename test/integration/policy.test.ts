/**
 * The worker's policy on real Docker and Temporal: a stack that adds a
 * capability and mounts the Docker socket is refused before anything is
 * created, naming each service key; once the worker's policy file allows
 * them, the same stack deploys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-policy';
const PROJECT = 'itpolicy';

describe('worker policy', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  const previous = process.env.DOCKFLOW_POLICY_FILE;

  before(async () => {
    delete process.env.DOCKFLOW_POLICY_FILE;
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    await removeProject(bed.docker, PROJECT);
  });

  after(async () => {
    if (previous === undefined) delete process.env.DOCKFLOW_POLICY_FILE;
    else process.env.DOCKFLOW_POLICY_FILE = previous;
    await removeProject(bed.docker, PROJECT);
    await stopWorker?.();
    await bed?.teardown();
  });

  it('refuses what the policy does not allow, touching nothing, and deploys once the policy file allows it', async () => {
    const dir = projectDir(PROJECT, {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  agent:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    cap_add: [NET_ADMIN]
    volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro"]
`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-policy-refused', args: [{ spec }] }),
      (err: unknown) => {
        const message = failureMessage(err);
        assert.match(message, /services\.agent\.cap_add\[0\]: NET_ADMIN is refused by the worker's policy/);
        assert.match(message, /services\.agent\.volumes\[0\]: the Docker socket \/var\/run\/docker\.sock is refused/);
        return true;
      },
    );
    assert.deepEqual(await projectContainers(bed.docker, PROJECT), [], 'nothing was created');
    const networks = await bed.docker.listNetworks({ filters: { label: [`com.docker.compose.project=${PROJECT}`] } });
    assert.deepEqual(networks, [], 'not even a network');

    const policyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-policy-')), 'policy.yml');
    fs.writeFileSync(policyFile, 'allow:\n  cap_add: [NET_ADMIN]\n  docker_socket: true\n');
    process.env.DOCKFLOW_POLICY_FILE = policyFile;
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-policy-allowed', args: [{ spec }] });
    const info = await bed.docker.getContainer(`${PROJECT}-agent-1`).inspect();
    assert.equal(info.State.Running, true);
    assert.deepEqual(info.HostConfig.CapAdd, ['NET_ADMIN']);
  });

  // privileged: true is refused by this test machine's runtime ("unable to apply caps"), so it is covered by unit tests only.
  it('runs a host-network, host-PID service once the policy allows it, with no project network, and replaces it in place', async () => {
    const project = 'itpolhost';
    await removeProject(bed.docker, project);
    const compose = (release: number) => `
name: ${project}
services:
  exporter:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    network_mode: host
    pid: host
    environment:
      RELEASE: "${release}"
`;
    const dir = projectDir(project, { 'docker-compose.yml': compose(1) });
    const load = () => loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
    delete process.env.DOCKFLOW_POLICY_FILE;
    await assert.rejects(bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-polhost-refused-${Date.now()}`, args: [{ spec: load() }] }), (err: unknown) => {
      const message = failureMessage(err);
      assert.match(message, /services\.exporter\.network_mode: the host's network namespace is refused/);
      assert.match(message, /services\.exporter\.pid: the host's PID namespace is refused/);
      return true;
    });
    assert.deepEqual(await projectContainers(bed.docker, project), []);

    const policyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-policy-')), 'policy.yml');
    fs.writeFileSync(policyFile, 'allow:\n  host_namespaces: true\n');
    process.env.DOCKFLOW_POLICY_FILE = policyFile;
    try {
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-polhost-1-${Date.now()}`, args: [{ spec: load() }] });
      const first = await bed.docker.getContainer(`${project}-exporter-1`).inspect();
      assert.equal(first.State.Running, true);
      assert.equal(first.HostConfig.NetworkMode, 'host');
      assert.equal(first.HostConfig.PidMode, 'host');
      assert.deepEqual(await bed.docker.listNetworks({ filters: { label: [`com.docker.compose.project=${project}`] } }), [], 'no project network');

      fs.writeFileSync(path.join(dir, 'docker-compose.yml'), compose(2));
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-polhost-2-${Date.now()}`, args: [{ spec: load() }] });
      const second = await bed.docker.getContainer(`${project}-exporter-1`).inspect();
      assert.notEqual(second.Id, first.Id, 'replaced');
      assert.ok(second.Config.Env.includes('RELEASE=2'));
      assert.equal(second.HostConfig.NetworkMode, 'host');
      assert.equal((await projectContainers(bed.docker, project)).length, 1, 'no leftover');
    } finally {
      delete process.env.DOCKFLOW_POLICY_FILE;
      await removeProject(bed.docker, project);
    }
  });
});
