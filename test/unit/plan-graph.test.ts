/**
 * The plan graph as text (src/plan/graph.ts): an observed state built by
 * hand, reconciled against a spec, and the printed graph compared line by
 * line, as `deploy --dry-run` prints it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planDeploy } from '../../src/plan/deploy-plan';
import { configHash } from '../../src/plan/hash';
import { decideRollout, planGraph, type GraphOptions } from '../../src/plan/graph';
import type { ObservedContainer, ObservedProject } from '../../src/model/observed';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';

const IMAGES: Record<string, string> = { db: 'sha256:db', api: 'sha256:api', web: 'sha256:web', proxy: 'sha256:proxy' };
const HEALTHCHECK = { test: ['CMD', 'true'], intervalMs: 1000, disable: false };
const healthy = { condition: 'service_healthy' as const, restart: false, required: true };

function stack(services: ServiceSpec[]): StackSpec {
  return {
    project: 'shop',
    workingDir: '/srv/shop',
    composeFiles: ['/srv/shop/docker-compose.yml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: { default: { name: 'shop_default', external: false, driverOpts: {}, internal: false, labels: {} } },
    volumes: {},
    extensions: {},
  };
}

/** The containers of `spec` as they run when it was deployed with `images`. */
function deployed(spec: StackSpec, images: Record<string, string> = IMAGES): ObservedProject {
  const containers: ObservedContainer[] = [];
  for (const service of Object.values(spec.services)) {
    for (let number = 1; number <= service.deploy.replicas; number++) {
      containers.push({
        id: `${service.name}${number}id`,
        name: `shop-${service.name}-${number}`,
        service: service.name,
        number,
        oneoff: false,
        configHash: configHash(spec, service, images[service.name]),
        imageId: images[service.name],
        state: 'running',
        health: service.healthcheck ? 'healthy' : undefined,
        exitCode: undefined,
        replaces: undefined,
      });
    }
  }
  return { project: 'shop', containers, networks: [{ key: 'default', name: 'shop_default', id: 'n1' }], volumes: [] };
}

const NOTHING: ObservedProject = { project: 'shop', containers: [], networks: [], volumes: [] };

function graphText(spec: StackSpec, observed: ObservedProject, options: GraphOptions = { wait: true }, images = IMAGES): string {
  return planGraph(spec, planDeploy(spec, observed, images, { removeOrphans: true }), options).toString();
}

const NEW_IMAGES = { ...IMAGES, web: 'sha256:web2' };

describe('plan graph', () => {
  it('a leaf service created now is waited for container by container, each wait after its own create; one depended on elsewhere is not', () => {
    const spec = stack([serviceSpec('web', { healthcheck: HEALTHCHECK, deploy: { ...serviceSpec('web').deploy, replicas: 2 } })]);
    const folded = [
      'create network:shop_default (missing)',
      'create container:shop-web-1 (missing) after network:shop_default',
      'create container:shop-web-2 (missing) after network:shop_default',
      'wait healthy container:shop-web-1 (the operation waits for every service with a healthcheck; created and waited for in one step) after container:shop-web-1',
      'wait healthy container:shop-web-2 (the operation waits for every service with a healthcheck; created and waited for in one step) after container:shop-web-2',
    ];
    assert.deepEqual(graphText(spec, NOTHING).split('\n').slice(0, 5), folded);
    const graph = planGraph(spec, planDeploy(spec, NOTHING, IMAGES, { removeOrphans: true }), { wait: true, dependedOnElsewhere: ['web'] });
    assert.deepEqual(graph.foldedWaits, new Set());
    assert.match(graph.toString(), /wait healthy container:shop-web-1 \(the operation waits for every service with a healthcheck\) after container:shop-web-1, container:shop-web-2/);
    assert.deepEqual(planGraph(spec, planDeploy(spec, NOTHING, IMAGES, { removeOrphans: true }), { wait: false }).foldedWaits, new Set());
  });

  it('new stack: the network first, each service after what it depends on, the waits, then re-observe and verify', () => {
    const spec = stack([
      serviceSpec('db', { healthcheck: HEALTHCHECK }),
      serviceSpec('api', { dependsOn: { db: healthy } }),
      serviceSpec('web', { dependsOn: { api: { condition: 'service_started', restart: false, required: true } } }),
    ]);
    assert.equal(
      graphText(spec, NOTHING),
      [
        'create network:shop_default (missing)',
        'create container:shop-db-1 (missing) after network:shop_default',
        'wait healthy container:shop-db-1 (api depends on db (service_healthy)) after container:shop-db-1',
        'create container:shop-api-1 (missing) after network:shop_default, healthy:shop-db-1',
        'create container:shop-web-1 (missing) after network:shop_default, container:shop-api-1',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('image change with start-first: batches of parallelism, each old container drained and removed after its replacement', () => {
    const before = stack([serviceSpec('web', { healthcheck: HEALTHCHECK, deploy: { replicas: 3, resources: {}, updateConfig: { order: 'start-first', parallelism: 2 } } })]);
    assert.equal(
      graphText(before, deployed(before), { wait: true }, NEW_IMAGES),
      [
        'start-first replace container:shop-web-1 (config hash changed, batch 1/2)',
        'start-first replace container:shop-web-2 (config hash changed, batch 1/2)',
        'drain and remove old container:shop-web-1 (out of service discovery; 1000 ms drain) after container:shop-web-1',
        'drain and remove old container:shop-web-2 (out of service discovery; 1000 ms drain) after container:shop-web-2',
        'start-first replace container:shop-web-3 (config hash changed, batch 2/2) after container:shop-web-1, container:shop-web-2',
        'drain and remove old container:shop-web-3 (out of service discovery; 1000 ms drain) after container:shop-web-3',
        'wait healthy container:shop-web-1 (the operation waits for every service with a healthcheck) after retire:shop-web-1, retire:shop-web-2, container:shop-web-1, container:shop-web-2, retire:shop-web-3, container:shop-web-3',
        'wait healthy container:shop-web-2 (the operation waits for every service with a healthcheck) after retire:shop-web-1, retire:shop-web-2, container:shop-web-1, container:shop-web-2, retire:shop-web-3, container:shop-web-3',
        'wait healthy container:shop-web-3 (the operation waits for every service with a healthcheck) after retire:shop-web-1, retire:shop-web-2, container:shop-web-1, container:shop-web-2, retire:shop-web-3, container:shop-web-3',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('stop-first (the default): one container at a time, with the delay between batches', () => {
    const spec = stack([serviceSpec('web', { deploy: { replicas: 2, resources: {}, updateConfig: { delayMs: 5000 } } })]);
    assert.equal(
      graphText(spec, deployed(spec), { wait: false }, NEW_IMAGES),
      [
        'stop-first replace container:shop-web-1 (config hash changed, batch 1/2)',
        'stop-first replace container:shop-web-2 (config hash changed, batch 2/2, 5000 ms after the batch before) after container:shop-web-1',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('start-first on a fixed host port falls back to stop-first when allowed, and the graph says why; refused otherwise', () => {
    const ports = [{ target: 80, published: '8080', protocol: 'tcp' as const }];
    const allowed = stack([serviceSpec('web', { ports, deploy: { replicas: 1, resources: {}, updateConfig: { order: 'start-first' } }, extensions: { 'x-dockflow': { update: { allow_stop_first: true } } } })]);
    assert.equal(
      graphText(allowed, deployed(allowed), { wait: false }, NEW_IMAGES).split('\n')[0],
      'stop-first replace container:shop-web-1 (config hash changed, batch 1/1; start-first falls back to stop-first: a fixed host port cannot be bound twice)',
    );
    const refused = stack([serviceSpec('web', { ports, deploy: { replicas: 1, resources: {}, updateConfig: { order: 'start-first' } } })]);
    assert.match(graphText(refused, deployed(refused), { wait: false }, NEW_IMAGES).split('\n')[0], /^fail service:web \(service web: update order start-first needs the old and new container running at once/);
    // --allow-stop-first on the command line allows it too.
    assert.equal(decideRollout(refused.services.web, { rollout: { allowStopFirst: true } }).order, 'stop-first');
  });

  it('scale down: the extra replicas are removed, the others untouched', () => {
    const three = stack([serviceSpec('web', { deploy: { replicas: 3, resources: {} } })]);
    const one = stack([serviceSpec('web', { deploy: { replicas: 1, resources: {} } })]);
    assert.equal(
      graphText(one, deployed(three)),
      [
        'remove container:shop-web-2 (scale down to 1 replica(s))',
        'remove container:shop-web-3 (scale down to 1 replica(s))',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('network change: a new network is created before the containers that change with it', () => {
    const before = stack([serviceSpec('web')]);
    const after: StackSpec = {
      ...stack([serviceSpec('web', { networks: { default: { aliases: [] }, back: { aliases: [] } } })]),
      networks: { ...before.networks, back: { name: 'shop_back', external: false, driverOpts: {}, internal: false, labels: {} } },
    };
    assert.equal(
      graphText(after, deployed(before)),
      [
        'create network:shop_back (missing)',
        'stop-first replace container:shop-web-1 (config hash changed, batch 1/1) after network:shop_back',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('after_replace: start-first nudges the proxy after each batch, before the old containers go; stop-first once at the end', () => {
    const withProxy = (order: 'start-first' | 'stop-first') =>
      stack([
        serviceSpec('proxy'),
        serviceSpec('web', { deploy: { replicas: 2, resources: {}, updateConfig: { order, parallelism: 2 } }, extensions: { 'x-dockflow': { after_replace: [{ service: 'proxy', signal: 'SIGHUP' }, { service: 'gone', action: 'restart' }] } } }),
      ]);
    const startFirst = withProxy('start-first');
    assert.equal(
      graphText(startFirst, deployed(startFirst), { wait: false }, NEW_IMAGES),
      [
        'start-first replace container:shop-web-1 (config hash changed, batch 1/1)',
        'start-first replace container:shop-web-2 (config hash changed, batch 1/1)',
        'send SIGHUP to service:proxy (after_replace: web batch 1/1 took the alias, before the old containers are retired) after container:shop-web-1, container:shop-web-2',
        'drain and remove old container:shop-web-1 (out of service discovery; 3000 ms drain) after after_replace:web:proxy:1',
        'drain and remove old container:shop-web-2 (out of service discovery; 3000 ms drain) after after_replace:web:proxy:1',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
    const stopFirst = withProxy('stop-first');
    assert.equal(
      graphText(stopFirst, deployed(stopFirst), { wait: false }, NEW_IMAGES).split('\n').slice(0, 3).join('\n'),
      [
        'stop-first replace container:shop-web-1 (config hash changed, batch 1/1)',
        'stop-first replace container:shop-web-2 (config hash changed, batch 1/1)',
        'send SIGHUP to service:proxy (after_replace: web was replaced) after container:shop-web-1, container:shop-web-2',
      ].join('\n'),
    );
  });

  it('dependants restart: a service with restart: true on a recreated dependency is restarted after it', () => {
    const spec = stack([serviceSpec('db'), serviceSpec('api', { dependsOn: { db: { condition: 'service_started', restart: true, required: true } } })]);
    assert.equal(
      graphText(spec, deployed(spec, { ...IMAGES, db: 'sha256:db-old' })),
      [
        'stop-first replace container:shop-db-1 (config hash changed, batch 1/1)',
        'restart container:shop-api-1 (dependency db was recreated) after container:shop-db-1',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });

  it('up to date: says so, and still re-observes and verifies', () => {
    const spec = stack([serviceSpec('web')]);
    assert.equal(
      graphText(spec, deployed(spec)),
      [
        'project shop is up to date: no operations',
        're-observe project:shop (converge again what drifted meanwhile, up to 2 rounds) after all above',
        'verify project:shop (the host must match the spec before a revision is recorded) after observe:shop',
      ].join('\n'),
    );
  });
});
