/**
 * The worker's policy on real Docker and Temporal: a stack that adds a
 * capability and mounts the Docker socket is refused before anything is
 * created, naming each service key; once the worker's policy file allows
 * them, the same stack deploys. The worker, not the client, decides which
 * directories are project directories; and a revision recorded under a
 * looser policy is refused by rollback, backup and restore once the policy
 * was tightened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import type { ChildProcess } from 'node:child_process';
import {
  killHard,
  projectContainers,
  projectDir,
  removeProject,
  runCli,
  spawnWorker,
  startTestBed,
  startWorker,
  TEST_POLICY_FILE,
  TEST_PROJECTS_ROOT,
  writeTestPolicy,
  type TestBed,
} from '../support/harness';

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

  it('refuses `deploy --project-directory /` with a /:/host bind, creating nothing, naming service and key', async () => {
    const project = 'itpolroot';
    await removeProject(bed.docker, project);
    const dir = projectDir(project, {
      'docker-compose.yml': `
name: ${project}
services:
  grab:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    volumes: ["/:/host", "/etc:/host-etc:ro"]
`,
    });
    // The operator's policy: the tests' project root, nothing else.
    process.env.DOCKFLOW_POLICY_FILE = TEST_POLICY_FILE;
    try {
      const run = await runCli(['deploy', '-f', path.join(dir, 'docker-compose.yml'), '--project-directory', '/'], { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE });
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stderr, /services\.grab\.volumes\[0\]: bind mount of \/ contains the Docker socket .*allow\.docker_socket: true/);
      assert.match(
        run.stderr,
        /services\.grab\.volumes\[1\]: bind mount of \/etc is in the project directory \/, which is not in one of this worker's project roots \(allow\.project_roots (.*)\).*allow it with allow\.project_roots: \[\/\]/,
      );
      assert.ok(run.stderr.includes(`(allow.project_roots ${TEST_PROJECTS_ROOT})`), run.stderr);
      assert.deepEqual(await projectContainers(bed.docker, project), [], 'nothing was created');
      assert.deepEqual(await bed.docker.listNetworks({ filters: { label: [`com.docker.compose.project=${project}`] } }), [], 'not even a network');
    } finally {
      process.env.DOCKFLOW_POLICY_FILE = previous ?? TEST_POLICY_FILE;
      await removeProject(bed.docker, project);
    }
  });

  it('deploys a stack with a bind mount from a project directory in the worker\'s project roots, and refuses it when the worker has none', async () => {
    const project = 'itpolroots';
    await removeProject(bed.docker, project);
    const dir = projectDir(project, {
      'docker-compose.yml': `
name: ${project}
services:
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    volumes: ["./data:/data"]
`,
      'data/hello.txt': 'hello\n',
    });
    assert.ok(dir.startsWith(TEST_PROJECTS_ROOT));
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    try {
      delete process.env.DOCKFLOW_POLICY_FILE;
      await assert.rejects(bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-polroots-none-${Date.now()}`, args: [{ spec }] }), (err: unknown) => {
        assert.match(failureMessage(err), /services\.app\.volumes\[0\]: bind mount of .*\/data is in the project directory .*, which is not in one of this worker's project roots \(it has none: no DOCKFLOW_STACKS_DIR and no allow\.project_roots\)/);
        return true;
      });
      assert.deepEqual(await projectContainers(bed.docker, project), []);

      process.env.DOCKFLOW_POLICY_FILE = TEST_POLICY_FILE;
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-polroots-ok-${Date.now()}`, args: [{ spec }] });
      const info = await bed.docker.getContainer(`${project}-app-1`).inspect();
      assert.equal(info.State.Running, true);
      assert.ok(info.HostConfig.Binds?.some((b) => b.startsWith(`${path.join(dir, 'data')}:/data`)), JSON.stringify(info.HostConfig.Binds));
    } finally {
      process.env.DOCKFLOW_POLICY_FILE = previous ?? TEST_POLICY_FILE;
      await removeProject(bed.docker, project);
    }
  });

  it('refuses rollback, backup and restore of what a looser policy allowed, once the worker runs with a stricter one', async () => {
    const project = 'itpoltight';
    const queue = 'it-policy-spawned';
    const spawned = { ...bed, taskQueue: queue };
    await removeProject(bed.docker, project);
    const compose = (release: number, capAdd: boolean) => `
name: ${project}
services:
  agent:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    ${capAdd ? 'cap_add: [NET_ADMIN]' : ''}
    environment: {RELEASE: "${release}"}
    volumes: ["./data:/data"]
`;
    const dir = projectDir(project, { 'docker-compose.yml': compose(1, true), 'data/db.txt': 'one\n' });
    const specFor = (release: number, capAdd: boolean) => {
      fs.writeFileSync(path.join(dir, 'docker-compose.yml'), compose(release, capAdd));
      return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
    };
    const run = (type: string, id: string, input: unknown) => bed.env.client.workflow.execute(type, { taskQueue: queue, workflowId: `it-poltight-${id}-${Date.now()}`, args: [input] });
    const loose = writeTestPolicy(['cap_add: [NET_ADMIN]']);
    let worker: ChildProcess | undefined;
    try {
      worker = await spawnWorker(spawned, { DOCKFLOW_POLICY_FILE: loose });
      await run('deploy', 'r1', { spec: specFor(1, true) });
      const { backupId } = (await run('backup', 'backup', { project })) as { backupId: string };
      await run('deploy', 'r2', { spec: specFor(2, false) });
      await killHard(worker);

      // The same worker restarted with a stricter policy file: no capability allowed any more.
      const strict = writeTestPolicy();
      worker = await spawnWorker(spawned, { DOCKFLOW_POLICY_FILE: strict });
      const before = await bed.docker.getContainer(`${project}-agent-1`).inspect();
      await assert.rejects(run('rollback', 'rollback', { project, to: 1 }), (err: unknown) => {
        const message = failureMessage(err);
        assert.match(message, /revision 1 of project itpoltight asks for more than this worker allows now/);
        assert.match(message, /services\.agent\.cap_add\[0\]: NET_ADMIN is refused by the worker's policy \((.*)\); allow it with allow\.cap_add: \[NET_ADMIN\]/);
        assert.ok(message.includes(`policy (${strict})`), 'names the policy file now in force');
        return true;
      });
      const after = await bed.docker.getContainer(`${project}-agent-1`).inspect();
      assert.equal(after.Id, before.Id, 'the running revision was not touched');
      assert.ok(after.Config.Env.includes('RELEASE=2'));

      // Tighter still, without a restart (the file is read at every check): the project directory is no longer a project root.
      fs.writeFileSync(strict, 'allow: {}\n');
      await assert.rejects(run('backup', 'backup-refused', { project }), (err: unknown) => {
        assert.match(failureMessage(err), /backup of project itpoltight reaches host directories this worker does not allow:\nbind mount \.\/data: the bind-mounted directory .*\/data is in the project directory .*allow\.bind_roots/);
        return true;
      });
      fs.writeFileSync(path.join(dir, 'data', 'db.txt'), 'changed\n');
      await assert.rejects(run('restore', 'restore-refused', { project, backupId }), (err: unknown) => {
        assert.match(failureMessage(err), /restore of backup .* of project itpoltight reaches host directories this worker does not allow:\narchive .*\(\.\/data\): the bind-mounted directory .*\/data is outside this worker's project roots/);
        return true;
      });
      assert.equal(fs.readFileSync(path.join(dir, 'data', 'db.txt'), 'utf8'), 'changed\n', 'the restore wrote nothing');
      await assert.rejects(run('update', 'update-refused', { project, service: 'agent', scale: 2 }), (err: unknown) => {
        assert.match(failureMessage(err), /revision 2 of project itpoltight asks for more than this worker allows now:\nservices\.agent\.volumes\[0\]: bind mount of .*\/data is in the project directory/);
        return true;
      });
      assert.equal((await projectContainers(bed.docker, project)).length, 1, 'update scaled nothing');
    } finally {
      if (worker) await killHard(worker);
      await removeProject(bed.docker, project);
    }
  });
});
