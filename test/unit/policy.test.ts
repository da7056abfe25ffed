import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { DEFAULT_POLICY, PolicyFile, dataPathViolations, policyViolations, referenceViolations, type WorkerHost } from '../../src/policy/policy';
import { hostRealpath } from '../../activities/policy';

/** Every stack of these tests lies in this worker's stacks directory, a project root. */
const STACKS = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-policy-stacks-'));
const host: WorkerHost = { stacksDir: STACKS };

function stack(serviceYaml: string, root = STACKS) {
  const dir = fs.mkdtempSync(path.join(root, 'pol-'));
  fs.writeFileSync(path.join(dir, 'compose.yaml'), `name: pol\nservices:\n  web:\n    image: busybox\n${serviceYaml}`);
  return loadStack({ files: [path.join(dir, 'compose.yaml')], environment: {} }).spec;
}

describe('worker policy', () => {
  it('lets a plain stack with binds inside its project directory through when that directory is in a project root', () => {
    assert.deepEqual(policyViolations(stack('    volumes: ["./data:/data", "db:/db"]\nvolumes:\n  db: {}\n'), DEFAULT_POLICY, 'default', host), []);
    // The same stack in allow.project_roots instead of DOCKFLOW_STACKS_DIR.
    const spec = stack('    volumes: ["./data:/data"]\n');
    assert.deepEqual(policyViolations(spec, PolicyFile.parse({ allow: { project_roots: [STACKS] } }), 'p.yml'), []);
  });

  it('refuses added capabilities, the Docker socket, unconfined security options and binds outside the project, naming service and key', () => {
    const spec = stack(
      '    cap_add: [NET_ADMIN, SYS_TIME]\n    security_opt: ["seccomp=unconfined"]\n    volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/srv/uploads:/uploads", "./ok:/ok"]\n',
    );
    const v = policyViolations(spec, DEFAULT_POLICY, '/etc/dockflow/policy.yml', host);
    assert.equal(v.length, 5);
    assert.match(v[0], /^services\.web\.cap_add\[0\]: NET_ADMIN is refused by the worker's policy \(\/etc\/dockflow\/policy\.yml\); allow it with allow\.cap_add: \[NET_ADMIN\]$/);
    assert.match(v[1], /^services\.web\.cap_add\[1\]: SYS_TIME/);
    assert.match(v[2], /^services\.web\.security_opt\[0\]: seccomp=unconfined is refused .* allow\.unconfined: true$/);
    assert.match(v[3], /^services\.web\.volumes\[0\]: the Docker socket \/var\/run\/docker\.sock is refused .* allow\.docker_socket: true$/);
    assert.match(v[4], /^services\.web\.volumes\[1\]: bind mount of \/srv\/uploads is outside the project directory .* allow\.bind_roots: \[\/srv\]$/);
  });

  it('allows exactly what the policy file allows', () => {
    const spec = stack('    cap_add: [CAP_NET_ADMIN, SYS_TIME]\n    volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/srv/uploads:/uploads", "/srvx:/x"]\n');
    const policy = PolicyFile.parse({ allow: { cap_add: ['net_admin'], docker_socket: true, bind_roots: ['/srv'] } });
    const v = policyViolations(spec, policy, 'p.yml', host);
    assert.equal(v.length, 2, v.join('\n'));
    assert.match(v[0], /cap_add\[1\]: SYS_TIME/);
    // A sibling directory that merely starts with the same letters is not inside /srv.
    assert.match(v[1], /volumes\[2\]: bind mount of \/srvx/);
  });

  it('rejects a policy file with unknown keys or relative roots', () => {
    assert.equal(PolicyFile.safeParse({ allow: { devices: true } }).success, false);
    assert.equal(PolicyFile.safeParse({ allow: { bind_roots: ['srv'] } }).success, false);
  });

  it('refuses privileged containers and the host\'s namespaces unless allowed', () => {
    const spec = stack('    privileged: true\n    network_mode: host\n    pid: host\n    ipc: host\n');
    const v = policyViolations(spec, DEFAULT_POLICY, 'default');
    assert.deepEqual(
      v.map((line) => line.split(':')[0]),
      ['services.web.privileged', 'services.web.network_mode', 'services.web.pid', 'services.web.ipc'],
    );
    assert.match(v[0], /allow it with allow\.privileged: true$/);
    assert.match(v[1], /the host's network namespace is refused .* allow\.host_namespaces: true$/);
    assert.deepEqual(policyViolations(spec, PolicyFile.parse({ allow: { privileged: true, host_namespaces: true } }), 'p.yml'), []);
    // Private namespaces are no concern of the policy.
    assert.deepEqual(policyViolations(stack('    network_mode: none\n    ipc: shareable\n'), DEFAULT_POLICY, 'default'), []);
  });
});

describe('project directories: the worker decides', () => {
  const inlineSpec = (workingDir: string, volumes: string[], build?: string) => {
    const spec = stack('');
    spec.workingDir = workingDir;
    spec.services.web.volumes = volumes.map((v) => {
      const [source, target] = v.split(':');
      return { type: 'bind' as const, source, target, readOnly: false };
    });
    if (build) spec.services.web.build = { context: build, dockerfile: 'Dockerfile', args: {} };
    return spec;
  };

  it('refuses a client-sent project directory / with a /:/host bind, naming service, key and setting', () => {
    const v = policyViolations(inlineSpec('/', ['/:/host', '/etc:/etc-host']), DEFAULT_POLICY, 'the default policy', host);
    assert.equal(v.length, 2, v.join('\n'));
    // / holds the Docker socket: refused as such, whatever the roots say.
    assert.match(v[0], /^services\.web\.volumes\[0\]: bind mount of \/ contains the Docker socket .* allow\.docker_socket: true$/);
    assert.match(
      v[1],
      /^services\.web\.volumes\[1\]: bind mount of \/etc is in the project directory \/, which is not in one of this worker's project roots \(DOCKFLOW_STACKS_DIR .*\), and is refused by the worker's policy \(the default policy\); allow it with allow\.project_roots: \[\/\] or allow\.bind_roots: \[\/\]$/,
    );
    // Without any root configured the message says so.
    assert.match(policyViolations(inlineSpec('/', ['/etc:/x']), DEFAULT_POLICY, 'd')[0], /project roots \(it has none: no DOCKFLOW_STACKS_DIR and no allow\.project_roots\)/);
  });

  it('allows a project directory in allow.project_roots, and binds only inside that directory', () => {
    const policy = PolicyFile.parse({ allow: { project_roots: ['/home/alice'] } });
    assert.deepEqual(policyViolations(inlineSpec('/home/alice/shop', ['/home/alice/shop/data:/data']), policy, 'p.yml'), []);
    const v = policyViolations(inlineSpec('/home/alice/shop', ['/home/alice/blog/.env:/x', '/home/alicex/data:/y']), policy, 'p.yml');
    assert.equal(v.length, 2, v.join('\n'));
    assert.match(v[0], /volumes\[0\]: bind mount of \/home\/alice\/blog\/\.env is outside the project directory \/home\/alice\/shop/);
    assert.match(v[1], /volumes\[1\]: bind mount of \/home\/alicex\/data is outside the project directory/);
    // A directory next to a root that merely starts with its letters is not in it.
    assert.match(policyViolations(inlineSpec('/home/alicex/shop', ['/home/alicex/shop/d:/d']), policy, 'p.yml')[0], /not in one of this worker's project roots/);
  });

  it('lets a stack that reads nothing from its directory deploy from any directory (the CLI keeps working)', () => {
    assert.deepEqual(policyViolations(inlineSpec('/home/bob/anything', []), DEFAULT_POLICY, 'd'), []);
  });

  it('refuses a build context outside an allowed project directory', () => {
    const v = policyViolations(inlineSpec('/', [], '/'), DEFAULT_POLICY, 'd', host);
    assert.equal(v.length, 1);
    assert.match(v[0], /^services\.web\.build\.context: build context \/ is in the project directory \/, which is not in one of this worker's project roots/);
    const inRoot = stack('');
    inRoot.services.web.build = { context: path.join(inRoot.workingDir, 'app'), dockerfile: 'Dockerfile', args: {} };
    assert.deepEqual(policyViolations(inRoot, DEFAULT_POLICY, 'd', host), []);
  });

  it('follows symlinks on the worker host: a link inside the project directory cannot lead out of it', () => {
    const spec = stack('    volumes: ["./escape:/x", "./escape/sub/new:/y"]\n');
    fs.symlinkSync('/etc', path.join(spec.workingDir, 'escape'));
    // As written, both paths are inside the project directory.
    assert.deepEqual(policyViolations(spec, DEFAULT_POLICY, 'd', host), []);
    const v = policyViolations(spec, DEFAULT_POLICY, 'd', { ...host, realpath: hostRealpath });
    assert.equal(v.length, 2, v.join('\n'));
    assert.match(v[0], /volumes\[0\]: bind mount of .*escape is outside the project directory/);
    assert.match(v[1], /volumes\[1\]: bind mount of .*escape\/sub\/new is outside the project directory/);
  });

  it('refuses compose references (files the worker would read) outside its project roots, naming the input path', () => {
    const policy = PolicyFile.parse({ allow: { project_roots: ['/srv/projects'] } });
    assert.deepEqual(referenceViolations({ composeFiles: ['/srv/projects/shop/compose.yaml'], envFiles: ['.env.prod'] }, '/', policy, 'p.yml', host), []);
    const v = referenceViolations({ projectDirectory: '/', composeFiles: ['etc/x.yml', '/srv/projects/shop/compose.yaml'], envFiles: ['/etc/shadow'] }, '/', policy, 'p.yml', host);
    assert.deepEqual(
      v.map((line) => line.split(':')[0]),
      ['input.projectDirectory', 'input.composeFiles[0]', 'input.envFiles[0]'],
    );
    assert.match(v[0], /^input\.projectDirectory: \/ is not in one of this worker's project roots \(DOCKFLOW_STACKS_DIR .*, allow\.project_roots \/srv\/projects\), so the worker does not read it \(policy: p\.yml\); .* allow\.project_roots: \[\/\]$/);
    assert.match(v[2], /input\.envFiles\[0\]: \/etc\/shadow is not in one of this worker's project roots/);
  });

  it('checks the host directories a backup reads and a restore writes', () => {
    const policy = PolicyFile.parse({ allow: { project_roots: ['/srv/projects'], bind_roots: ['/mnt/media'] } });
    const paths = [
      { key: 'bind mount ./data', source: '/srv/projects/shop/data' },
      { key: 'bind mount /mnt/media', source: '/mnt/media' },
      { key: 'bind mount /etc', source: '/etc' },
    ];
    // A backup: in the (allowed) project directory or bind_roots.
    const backup = dataPathViolations(paths, policy, 'p.yml', {}, '/srv/projects/shop');
    assert.equal(backup.length, 1, backup.join('\n'));
    assert.match(backup[0], /^bind mount \/etc: the bind-mounted directory \/etc is outside the project directory \/srv\/projects\/shop and is refused by the worker's policy \(p\.yml\)/);
    // The same data in a project directory the worker does not recognise.
    assert.match(dataPathViolations([paths[0]], DEFAULT_POLICY, 'd', {}, '/srv/projects/shop')[0], /is in the project directory \/srv\/projects\/shop, which is not in one of this worker's project roots/);
    // A restore (no project directory recorded): any project root or bind root.
    const restore = dataPathViolations(paths, policy, 'p.yml');
    assert.equal(restore.length, 1);
    assert.match(restore[0], /^bind mount \/etc: .* is outside this worker's project roots/);
  });
});
