/** Deploy hooks: the loader's checks (file and key in every error), which hooks an operation runs, their environment and plan lines. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComposeError, loadStack } from '../../src/compose';
import { describeHook, hookEnvironment, hooksToRun, planWithHooks, stackHooks, HookSettingsError, type DeployHook } from '../../src/model/hooks';
import { hookContainerName } from '../../src/backup/ids';
import { activitySummary } from '../../src/model/activity-summary';
import { serviceSpec } from '../support/spec-builders';

function project(files: Record<string, string>): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-hooks-')), 'shop');
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
  return dir;
}

const load = (files: Record<string, string>, names = Object.keys(files)) => {
  const dir = project(files);
  return loadStack({ workingDir: dir, files: names.map((n) => path.join(dir, n)), environment: {}, homeDir: '/home/ops' });
};

function refused(files: Record<string, string>, message: RegExp) {
  assert.throws(
    () => load(files),
    (err: unknown) => {
      assert.ok(err instanceof ComposeError, `a ComposeError, got ${String(err)}`);
      assert.match((err as Error).message, message);
      return true;
    },
  );
}

const BASE = `
services:
  web:
    image: shop-web:2
    x-dockflow:
      hooks:
        pre_deploy: {command: ["./manage.py", "migrate"], timeout: 10m}
        post_deploy: "curl -fsS http://web:8000/warm > /dev/null"
  worker:
    image: shop-worker:2
    depends_on: [web]
    x-dockflow:
      hooks:
        pre_deploy: [sleep, 1]
x-dockflow:
  hooks:
    post_deploy: {service: worker, command: ./notify, timeout: 30}
`;

describe('deploy hooks in compose files', () => {
  it('reads service hooks (object, string through /bin/sh -c, list as argv) and a top-level hook naming its service', () => {
    const { spec } = load({ 'docker-compose.yml': BASE });
    const hooks = stackHooks(spec);
    assert.deepEqual(
      hooks.map((h) => [h.origin, h.phase, h.service, h.command, h.timeoutMs, h.topLevel]),
      [
        ['x-dockflow.hooks.post_deploy', 'post_deploy', 'worker', ['/bin/sh', '-c', './notify'], 30_000, true],
        ['services.web.x-dockflow.hooks.pre_deploy', 'pre_deploy', 'web', ['./manage.py', 'migrate'], 600_000, false],
        ['services.web.x-dockflow.hooks.post_deploy', 'post_deploy', 'web', ['/bin/sh', '-c', 'curl -fsS http://web:8000/warm > /dev/null'], 300_000, false],
        // YAML reads the 1 as a number; the container gets its text.
        ['services.worker.x-dockflow.hooks.pre_deploy', 'pre_deploy', 'worker', ['sleep', '1'], 300_000, false],
      ],
    );
  });

  it('refuses an unknown key in a hook, naming file, key path and the keys it takes', () => {
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow:\n      hooks:\n        pre_deploy: {command: x, tmeout: 5m}\n' },
      /^docker-compose\.yml: services\.web\.x-dockflow\.hooks\.pre_deploy\.tmeout: unknown key \(a hook takes: command, timeout\)$/,
    );
  });

  it('refuses an unknown hook phase and a misspelt hooks key', () => {
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow:\n      hooks:\n        predeploy: x\n' },
      /^docker-compose\.yml: services\.web\.x-dockflow\.hooks\.predeploy: unknown key \(hooks are: pre_deploy, post_deploy\)$/,
    );
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow:\n      hook:\n        pre_deploy: x\n' },
      /^docker-compose\.yml: services\.web\.x-dockflow\.hook: unknown key \(known on a service: update, after_replace, backup, hooks\)$/,
    );
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\nx-dockflow:\n  hook: {}\n' }, /^docker-compose\.yml: x-dockflow\.hook: unknown key \(known at the top level: hooks\)$/);
  });

  it('names the override file a bad hook came from', () => {
    refused(
      {
        'docker-compose.yml': 'services:\n  web:\n    image: a\n',
        'docker-compose.prod.yml': 'services:\n  web:\n    x-dockflow:\n      hooks:\n        post_deploy: {command: [x], timeout: soon}\n',
      },
      /^docker-compose\.prod\.yml: services\.web\.x-dockflow\.hooks\.post_deploy\.timeout: invalid duration "soon"/,
    );
  });

  it('needs the service of a top-level hook, and one that is in the stack', () => {
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\nx-dockflow:\n  hooks:\n    pre_deploy: {command: [x]}\n' },
      /^docker-compose\.yml: x-dockflow\.hooks\.pre_deploy\.service: required/,
    );
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\nx-dockflow:\n  hooks:\n    pre_deploy: {service: wbe, command: [x]}\n' },
      /^docker-compose\.yml: x-dockflow\.hooks\.pre_deploy\.service: no service wbe in the stack \(services: web;/,
    );
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\nx-dockflow:\n  hooks:\n    pre_deploy: ./migrate\n' },
      /^docker-compose\.yml: x-dockflow\.hooks\.pre_deploy: expected a mapping with service, command and timeout/,
    );
    refused(
      { 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow:\n      hooks:\n        pre_deploy: {service: web, command: [x]}\n' },
      /^docker-compose\.yml: services\.web\.x-dockflow\.hooks\.pre_deploy\.service: a hook under services\.web runs in web/,
    );
  });

  it('refuses empty commands, non-string arguments and a zero timeout', () => {
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow: {hooks: {pre_deploy: ""}}\n' }, /services\.web\.x-dockflow\.hooks\.pre_deploy: the command is empty/);
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow: {hooks: {pre_deploy: {command: []}}}\n' }, /services\.web\.x-dockflow\.hooks\.pre_deploy\.command: the command is empty/);
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow: {hooks: {pre_deploy: [echo, {a: 1}]}}\n' }, /services\.web\.x-dockflow\.hooks\.pre_deploy\[1\]: expected a string/);
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow: {hooks: {post_deploy: {command: x, timeout: 0s}}}\n' }, /services\.web\.x-dockflow\.hooks\.post_deploy\.timeout: must be more than 0/);
    refused({ 'docker-compose.yml': 'services:\n  web:\n    image: a\n    x-dockflow: {hooks: {post_deploy: {timeout: 5s}}}\n' }, /services\.web\.x-dockflow\.hooks\.post_deploy\.command: required/);
  });

  it('checks an inline spec too (what the UI or an old revision sends), without a file', () => {
    const spec = { services: { web: serviceSpec('web', { extensions: { 'x-dockflow': { hooks: { post_deploy: { command: 'x', on_error: 'continue' } } } } }) }, extensions: {} };
    assert.throws(() => stackHooks(spec), (err: unknown) => {
      assert.ok(err instanceof HookSettingsError);
      assert.equal(err.message, 'services.web.x-dockflow.hooks.post_deploy.on_error: unknown key (a hook takes: command, timeout)');
      return true;
    });
    // Other x-dockflow keys on a service are still theirs to check.
    assert.deepEqual(stackHooks({ services: { web: serviceSpec('web', { extensions: { 'x-dockflow': { update: { drain: '2s' } } } }) }, extensions: {} }), []);
  });
});

describe('which hooks an operation runs', () => {
  const { spec } = load({ 'docker-compose.yml': BASE });
  const hooks = stackHooks(spec);
  const names = (list: DeployHook[]) => list.map((h) => h.origin);

  it('runs the top-level hook first, then the changed services\' hooks in plan order', () => {
    assert.deepEqual(names(hooksToRun(hooks, 'pre_deploy', ['web', 'worker'], true)), ['services.web.x-dockflow.hooks.pre_deploy', 'services.worker.x-dockflow.hooks.pre_deploy']);
    assert.deepEqual(names(hooksToRun(hooks, 'post_deploy', ['web', 'worker'], true)), ['x-dockflow.hooks.post_deploy', 'services.web.x-dockflow.hooks.post_deploy']);
  });

  it('skips the hooks of services the operation does not change, and every hook when nothing changes', () => {
    assert.deepEqual(names(hooksToRun(hooks, 'pre_deploy', ['worker'], true)), ['services.worker.x-dockflow.hooks.pre_deploy']);
    // Orphans removed, no service changed: the top-level hook still runs.
    assert.deepEqual(names(hooksToRun(hooks, 'post_deploy', [], true)), ['x-dockflow.hooks.post_deploy']);
    assert.deepEqual(hooksToRun(hooks, 'post_deploy', [], false), []);
  });

  it('gives every hook the DOCKFLOW_* variables', () => {
    assert.deepEqual(hookEnvironment({ phase: 'pre_deploy' }, { project: 'shop', operation: 'deploy', revision: 1, workflowId: 'deploy-shop-1' }), {
      DOCKFLOW_PROJECT: 'shop',
      DOCKFLOW_OPERATION: 'deploy',
      DOCKFLOW_REVISION: '1',
      DOCKFLOW_PREVIOUS_REVISION: '',
      DOCKFLOW_WORKFLOW_ID: 'deploy-shop-1',
      DOCKFLOW_HOOK: 'pre_deploy',
    });
    assert.equal(hookEnvironment({ phase: 'post_deploy' }, { project: 'shop', operation: 'update', revision: 5, previousRevision: 4, workflowId: 'w' }).DOCKFLOW_PREVIOUS_REVISION, '4');
  });

  it('prints the hooks around the plan, in the order they run (what --dry-run shows)', () => {
    const pre = hooksToRun(hooks, 'pre_deploy', ['web'], true);
    const post = hooksToRun(hooks, 'post_deploy', ['web'], true);
    assert.equal(
      planWithHooks('recreate container:shop-web-1 (config hash changed)', pre, post),
      [
        'pre_deploy hook in a one-off container of web: ./manage.py migrate (timeout 10m; services.web.x-dockflow.hooks.pre_deploy)',
        'recreate container:shop-web-1 (config hash changed)',
        'post_deploy hook in a one-off container of worker: /bin/sh -c ./notify (timeout 30s; x-dockflow.hooks.post_deploy)',
        "post_deploy hook in a one-off container of web: /bin/sh -c 'curl -fsS http://web:8000/warm > /dev/null' (timeout 5m; services.web.x-dockflow.hooks.post_deploy)",
      ].join('\n'),
    );
    assert.equal(describeHook({ ...pre[0], timeoutMs: 90_500 }).match(/timeout [^;]+/)?.[0], 'timeout 1m30.5s');
  });

  it('names each hook\'s one-off container per operation and per place, and shows it in the timeline', () => {
    const a = hookContainerName('shop', 'web', 'pre_deploy', 'deploy-shop-1', 'x-dockflow.hooks.pre_deploy');
    assert.match(a, /^shop-web-predeploy-[0-9a-f]{8}$/);
    assert.equal(a, hookContainerName('shop', 'web', 'pre_deploy', 'deploy-shop-1', 'x-dockflow.hooks.pre_deploy'), 'a retried attempt finds the same container');
    assert.notEqual(a, hookContainerName('shop', 'web', 'pre_deploy', 'deploy-shop-1', 'services.web.x-dockflow.hooks.pre_deploy'));
    assert.notEqual(a, hookContainerName('shop', 'web', 'pre_deploy', 'deploy-shop-2', 'x-dockflow.hooks.pre_deploy'));
    assert.match(hookContainerName('shop', 'web', 'post_deploy', 'w', 'o'), /^shop-web-postdeploy-/);
    assert.equal(
      activitySummary('startOneOff', [{ name: a, service: 'web', kind: 'pre_deploy', command: ['./manage.py', 'migrate'] }]),
      `pre_deploy hook of web in ${a}: ./manage.py migrate`,
    );
    assert.equal(activitySummary('startOneOff', [{ name: 'shop-web-run-1', service: 'web', kind: 'run', command: ['x'] }]), 'run shop-web-run-1: x');
  });
});
