/**
 * Deploy end to end: real Temporal dev server, real Docker engine, compose
 * files loaded by dockflow's loader, the worker running the real activities.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import type { DeployResult } from '../../workflows/deploy';
import { failureMessage } from '../../src/client/operations';
import { execIn, freePort, nameOf, projectContainers, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-deploy';

const SHOP_COMPOSE = `
name: itshop
x-health: &health
  interval: 1s
  timeout: 2s
  retries: 15
services:
  db:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ok > /www/health && exec httpd -f -p 5432 -h /www"]
    healthcheck:
      <<: *health
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/health"]
    volumes: [db-data:/data]
    networks: [backend]
  migrate:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo run >> /data/migrations.log"]
    depends_on:
      db: {condition: service_healthy}
    volumes: [db-data:/data]
    networks: [backend]
  api:
    image: dockflow/busybox:1
    command: sh -c "cp /app/data/index.html /www/index.html && echo ok > /www/health && exec httpd -f -p 8000 -h /www"
    environment:
      RELEASE: \${RELEASE:-1}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    volumes:
      - ./data:/app/data:ro
    healthcheck:
      <<: *health
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/health"]
    networks: [backend, default]
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo web-front > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    depends_on:
      api: {condition: service_healthy}
    healthcheck:
      <<: *health
      test: ["CMD-SHELL", "wget -q -O /dev/null http://api:8000/health"]
  debug:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    profiles: [debug]
networks:
  backend:
    internal: true
volumes:
  db-data:
`;

describe('deploy workflow against real Docker and Temporal', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let dir: string;
  let webPort: number;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    for (const p of ['itshop', 'itsick', 'itbad', 'itext']) await removeProject(bed.docker, p);
    dir = projectDir('shop', { 'docker-compose.yml': SHOP_COMPOSE, 'data/index.html': 'from-bind-mount\n' });
    webPort = await freePort();
  });

  after(async () => {
    for (const p of ['itshop', 'itsick', 'itbad', 'itext']) await removeProject(bed.docker, p);
    await stopWorker?.();
    await bed?.teardown();
  });

  const deploySpec = async (environment: Record<string, string>, workflowId: string) => {
    const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: { WEB_PORT: String(webPort), ...environment } });
    return bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec }] }) as Promise<DeployResult>;
  };

  const ids = async () => Object.fromEntries((await projectContainers(bed.docker, 'itshop')).map((c) => [nameOf(c), c.Id]));

  it('deploys a stack with health gates, a one-shot job, volumes, an internal network and a loopback port', async () => {
    const result = await deploySpec({}, 'it-shop-1');
    assert.deepEqual(Object.keys(result.services).sort(), ['api', 'db', 'migrate', 'web'], 'the profile-gated debug service stays off');

    const containers = await projectContainers(bed.docker, 'itshop');
    assert.deepEqual(containers.map(nameOf), ['itshop-api-1', 'itshop-db-1', 'itshop-migrate-1', 'itshop-web-1']);
    const byName = Object.fromEntries(containers.map((c) => [nameOf(c), c]));
    for (const name of ['itshop-api-1', 'itshop-db-1', 'itshop-web-1']) {
      assert.match(byName[name].Status, /\(healthy\)/, `${name} is healthy`);
    }
    const migrate = await bed.docker.getContainer('itshop-migrate-1').inspect();
    assert.equal(migrate.State.Status, 'exited');
    assert.equal(migrate.State.ExitCode, 0);

    // Published on loopback only, and reachable there.
    const web = await bed.docker.getContainer('itshop-web-1').inspect();
    assert.equal(web.HostConfig.PortBindings?.['80/tcp']?.[0]?.HostIp, '127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${webPort}/`);
    assert.equal((await res.text()).trim(), 'web-front');

    // The bind mount reached the API, which web reaches by its service name.
    assert.equal((await execIn(bed.docker, 'itshop-web-1', ['wget', '-q', '-O', '-', 'http://api:8000/index.html'])).trim(), 'from-bind-mount');

    const backend = await bed.docker.getNetwork('itshop_backend').inspect();
    assert.equal(backend.Internal, true);
    assert.equal((await execIn(bed.docker, 'itshop-db-1', ['cat', '/data/migrations.log'])).trim(), 'run');

    // compose's labels, so docker compose ps/logs work on the stack.
    assert.equal(byName['itshop-api-1'].Labels['com.docker.compose.project'], 'itshop');
    assert.equal(byName['itshop-api-1'].Labels['com.docker.compose.service'], 'api');
    assert.equal(byName['itshop-api-1'].Labels['com.docker.compose.container-number'], '1');
  });

  it('does nothing on an unchanged redeploy: same container IDs, no operations', async () => {
    const before = await ids();
    const result = await deploySpec({}, 'it-shop-2');
    assert.equal(result.operations, 0, result.plan);
    assert.match(result.plan, /up to date/);
    assert.deepEqual(await ids(), before);
  });

  it('recreates only the service whose configuration changed', async () => {
    const before = await ids();
    const result = await deploySpec({ RELEASE: '2' }, 'it-shop-3');
    assert.equal(result.plan, 'recreate container:itshop-api-1 (config hash changed)');
    const after = await ids();
    assert.notEqual(after['itshop-api-1'], before['itshop-api-1']);
    for (const name of ['itshop-db-1', 'itshop-migrate-1', 'itshop-web-1']) assert.equal(after[name], before[name], `${name} untouched`);
    const api = await bed.docker.getContainer('itshop-api-1').inspect();
    assert.ok(api.Config.Env.includes('RELEASE=2'));
    assert.equal(api.State.Health?.Status, 'healthy');
    // The one-shot migration did not run again.
    assert.equal((await execIn(bed.docker, 'itshop-db-1', ['cat', '/data/migrations.log'])).trim(), 'run');
  });

  it('fails with the service name and the last health output when a service never becomes healthy', async () => {
    const sickDir = projectDir('sick', {
      'docker-compose.yml': `
name: itsick
services:
  db:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD-SHELL", "echo database is not ready; exit 1"]
      interval: 1s
      timeout: 1s
      retries: 2
`,
    });
    const { spec } = loadStack({ files: [`${sickDir}/docker-compose.yml`], environment: {} });
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-sick', args: [{ spec }] }),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        const message = failureMessage(err);
        assert.match(message, /service db/);
        assert.match(message, /database is not ready/);
        return true;
      },
    );
  });

  it('rejects a malformed workflow input at once and creates nothing', async () => {
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-bad-input', args: [{ composeFiles: 'docker-compose.yml', project: 'itbad' }] }),
      (err: unknown) => {
        assert.match(failureMessage(err), /input\.composeFiles/);
        return true;
      },
    );
    assert.deepEqual(await projectContainers(bed.docker, 'itbad'), []);
  });

  it('rejects a compose file with an unsupported key, naming file and key, and creates nothing', async () => {
    const badDir = projectDir('bad', {
      'docker-compose.yml': `
name: itbad
services:
  web:
    image: dockflow/busybox:1
    devices: ["/dev/fuse:/dev/fuse"]
`,
    });
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-bad-file', args: [{ composeFiles: [`${badDir}/docker-compose.yml`] }] }),
      (err: unknown) => {
        assert.match(failureMessage(err), /docker-compose\.yml: services\.web\.devices: not supported by dockflow/);
        return true;
      },
    );
    assert.deepEqual(await projectContainers(bed.docker, 'itbad'), []);
    assert.deepEqual(await bed.docker.listNetworks({ filters: { label: ['com.docker.compose.project=itbad'] } }), []);
  });

  it('fails before creating anything when an external network is missing', async () => {
    const extDir = projectDir('ext', {
      'docker-compose.yml': `
name: itext
services:
  web:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    networks: [proxy, default]
networks:
  proxy:
    external: true
    name: dockflow-it-no-such-network
`,
    });
    await assert.rejects(
      bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-ext', args: [{ composeFiles: [`${extDir}/docker-compose.yml`] }] }),
      (err: unknown) => {
        assert.match(failureMessage(err), /dockflow-it-no-such-network/);
        return true;
      },
    );
    assert.deepEqual(await projectContainers(bed.docker, 'itext'), []);
    assert.deepEqual(await bed.docker.listNetworks({ filters: { label: ['com.docker.compose.project=itext'] } }), []);
  });

  it('creates a network with the subnet its ipam asks for; the container gets an address in it', async () => {
    await removeProject(bed.docker, 'itipam');
    const dir = projectDir('ipam', {
      'docker-compose.yml': `
name: itipam
services:
  web:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
networks:
  default:
    ipam:
      config:
        - subnet: 10.231.7.0/24
          gateway: 10.231.7.1
`,
    });
    try {
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-ipam-${Date.now()}`, args: [{ composeFiles: [`${dir}/docker-compose.yml`] }] });
      const network = await bed.docker.getNetwork('itipam_default').inspect();
      assert.deepEqual(network.IPAM?.Config, [{ Subnet: '10.231.7.0/24', Gateway: '10.231.7.1' }]);
      const info = await bed.docker.getContainer('itipam-web-1').inspect();
      assert.match(info.NetworkSettings.Networks.itipam_default.IPAddress, /^10\.231\.7\./);
    } finally {
      await removeProject(bed.docker, 'itipam');
    }
  });
});
