import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { DEFAULT_POLICY, PolicyFile, policyViolations } from '../../src/policy/policy';

function stack(serviceYaml: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-policy-'));
  fs.writeFileSync(path.join(dir, 'compose.yaml'), `name: pol\nservices:\n  web:\n    image: busybox\n${serviceYaml}`);
  return loadStack({ files: [path.join(dir, 'compose.yaml')], environment: {} }).spec;
}

describe('worker policy', () => {
  it('lets a plain stack with binds inside the project directory through', () => {
    assert.deepEqual(policyViolations(stack('    volumes: ["./data:/data", "db:/db"]\nvolumes:\n  db: {}\n'), DEFAULT_POLICY, 'default'), []);
  });

  it('refuses added capabilities, the Docker socket, unconfined security options and binds outside the project, naming service and key', () => {
    const spec = stack(
      '    cap_add: [NET_ADMIN, SYS_TIME]\n    security_opt: ["seccomp=unconfined"]\n    volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/srv/uploads:/uploads", "./ok:/ok"]\n',
    );
    const v = policyViolations(spec, DEFAULT_POLICY, '/etc/dockflow/policy.yml');
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
    const v = policyViolations(spec, policy, 'p.yml');
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
