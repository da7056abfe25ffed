/**
 * Compose files loaded on the worker's host ({"stack": ...} and compose
 * references): interpolation sees the stack's own .env and the worker
 * variables the operator allowed, never the rest of the worker's
 * environment; files the client names must lie in the worker's project
 * roots.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createComposeActivities } from '../../activities/compose';
import { loadStack } from '../../src/compose';

function stacksDir(compose: string, dotenv: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-wstacks-'));
  fs.mkdirSync(path.join(root, 'shop'));
  fs.writeFileSync(path.join(root, 'shop', 'compose.yaml'), compose);
  fs.writeFileSync(path.join(root, 'shop', '.env'), dotenv);
  return root;
}

const COMPOSE = `services:
  web:
    image: busybox
    environment:
      KEY: "\${DOCKFLOW_ENCRYPTION_KEY}"
      HOME_SEEN: "\${HOME:-unset}"
      FROM_DOTENV: "\${FROM_DOTENV}"
      RELEASE: "\${RELEASE:-none}"
  leak:
    image: busybox
    # A bare name takes its value from the environment in compose: it must not reach the key either.
    environment: [DOCKFLOW_ENCRYPTION_KEY]
`;

describe('worker-side compose loading', () => {
  it('never resolves the worker\'s own environment (${DOCKFLOW_ENCRYPTION_KEY}, ${HOME}); the stack\'s .env does resolve', async () => {
    const root = stacksDir(COMPOSE, 'FROM_DOTENV=from-the-stack\n');
    const workerEnv = { DOCKFLOW_STACKS_DIR: root, DOCKFLOW_ENCRYPTION_KEY: 'worker-secret-key', HOME: '/root', RELEASE: '7' };
    const { spec, warnings } = await createComposeActivities(workerEnv).loadProject({ stack: 'shop' });
    const env = spec.services.web.environment;
    assert.equal(env.KEY, '', 'unset for the stack, as compose treats an unset variable');
    assert.equal(env.HOME_SEEN, 'unset');
    assert.equal(env.FROM_DOTENV, 'from-the-stack');
    assert.equal(env.RELEASE, 'none', 'not allowed, so not seen');
    assert.equal(spec.services.leak.environment.DOCKFLOW_ENCRYPTION_KEY, undefined);
    assert.ok(warnings.some((w) => /DOCKFLOW_ENCRYPTION_KEY/.test(w)), warnings.join('\n'));
    assert.ok(!JSON.stringify(spec).includes('worker-secret-key'));

    // The same files loaded by the CLI see the user's shell environment, as docker compose does.
    const client = loadStack({ workingDir: path.join(root, 'shop'), environment: { DOCKFLOW_ENCRYPTION_KEY: 'users-own', RELEASE: '7' } }).spec;
    assert.equal(client.services.web.environment.KEY, 'users-own');
    assert.equal(client.services.web.environment.RELEASE, '7');
  });

  it('passes the worker variables named in DOCKFLOW_INTERPOLATION_ALLOW, and only those', async () => {
    const root = stacksDir(COMPOSE, 'FROM_DOTENV=x\nRELEASE=from-dotenv\n');
    const base = { DOCKFLOW_STACKS_DIR: root, DOCKFLOW_ENCRYPTION_KEY: 'worker-secret-key', RELEASE: '7' };
    const allowed = await createComposeActivities({ ...base, DOCKFLOW_INTERPOLATION_ALLOW: ' RELEASE , NOT_SET' }).loadProject({ stack: 'shop' });
    assert.equal(allowed.spec.services.web.environment.RELEASE, '7', 'an allowed worker variable wins over .env, as the shell does in compose');
    assert.equal(allowed.spec.services.web.environment.KEY, '');
    const notAllowed = await createComposeActivities(base).loadProject({ stack: 'shop' });
    assert.equal(notAllowed.spec.services.web.environment.RELEASE, 'from-dotenv');
  });

  it('refuses compose files, project directories and env files outside the worker\'s project roots before reading them', async () => {
    const root = stacksDir(COMPOSE, 'FROM_DOTENV=x\n');
    const activities = createComposeActivities({ DOCKFLOW_STACKS_DIR: root });
    await assert.rejects(activities.loadProject({ composeFiles: ['/etc/passwd'] }), /input\.composeFiles\[0\]: \/etc\/passwd is not in one of this worker's project roots/);
    await assert.rejects(activities.loadProject({ stack: 'shop', envFiles: ['/etc/shadow'] }), /input\.envFiles\[0\]: \/etc\/shadow is not in one of this worker's project roots/);
    await assert.rejects(
      activities.loadProject({ composeFiles: [path.join(root, 'shop', 'compose.yaml')], projectDirectory: '/' }),
      /input\.projectDirectory: \/ is not in one of this worker's project roots/,
    );
    // Inside a root, a compose reference loads.
    const { spec } = await activities.loadProject({ composeFiles: [path.join(root, 'shop', 'compose.yaml')] });
    assert.equal(spec.project, 'shop');
  });
});
