/**
 * Planner golden tests: an observed state built by hand, reconciled against a
 * spec, and the printed plan compared line by line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlan, planDeploy, countOperations } from '../../src/plan/deploy-plan';
import { configHash } from '../../src/plan/hash';
import { topologicalOrder } from '../../src/plan/order';
import type { ObservedContainer, ObservedProject } from '../../src/model/observed';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';

const service = serviceSpec;

function stack(services: ServiceSpec[]): StackSpec {
  return {
    project: 'shop',
    workingDir: '/srv/shop',
    composeFiles: ['/srv/shop/docker-compose.yml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: { default: { name: 'shop_default', external: false, driverOpts: {}, internal: false, labels: {} } },
    volumes: { data: { name: 'shop_data', external: false, driverOpts: {}, labels: {} } },
    extensions: {},
  };
}

const IMAGES = { db: 'sha256:db', api: 'sha256:api', web: 'sha256:web', migrate: 'sha256:migrate' };

function running(spec: StackSpec, svc: string, number: number, extra: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: `${svc}${number}id`,
    name: `shop-${svc}-${number}`,
    service: svc,
    number,
    oneoff: false,
    configHash: configHash(spec, spec.services[svc], IMAGES[svc as keyof typeof IMAGES]),
    imageId: IMAGES[svc as keyof typeof IMAGES],
    state: 'running',
    health: undefined,
    exitCode: undefined,
    replaces: undefined,
    ...extra,
  };
}

function observed(containers: ObservedContainer[], withResources = true): ObservedProject {
  return {
    project: 'shop',
    containers,
    networks: withResources ? [{ key: 'default', name: 'shop_default', id: 'n1' }] : [],
    volumes: withResources ? [{ key: 'data', name: 'shop_data' }] : [],
  };
}

const healthy = { condition: 'service_healthy' as const, restart: false, required: true };

const base = () =>
  stack([
    service('db', { image: 'postgres:16' }),
    service('migrate', { dependsOn: { db: healthy } }),
    service('api', { dependsOn: { db: healthy, migrate: { condition: 'service_completed_successfully', restart: false, required: true } } }),
    service('web', { deploy: { replicas: 2, resources: {} }, dependsOn: { api: { condition: 'service_started', restart: true, required: true } } }),
  ]);

describe('planDeploy', () => {
  it('creates everything on an empty host, in dependency order', () => {
    const plan = planDeploy(base(), observed([], false), IMAGES, { removeOrphans: false });
    assert.equal(
      formatPlan(plan),
      [
        'create network:shop_default (missing)',
        'create volume:shop_data (missing)',
        'create container:shop-db-1 (missing)',
        'create container:shop-migrate-1 (missing)',
        'create container:shop-api-1 (missing)',
        'create container:shop-web-1 (missing)',
        'create container:shop-web-2 (missing)',
      ].join('\n'),
    );
    assert.deepEqual(plan.services.map((s) => s.service), ['db', 'migrate', 'api', 'web']);
    assert.deepEqual(plan.services.find((s) => s.service === 'migrate')?.oneShot, true);
  });

  it('plans nothing when the host matches, counting a completed one-shot job as done', () => {
    const spec = base();
    const plan = planDeploy(
      spec,
      observed([
        running(spec, 'db', 1),
        running(spec, 'migrate', 1, { state: 'exited', exitCode: 0 }),
        running(spec, 'api', 1),
        running(spec, 'web', 1),
        running(spec, 'web', 2),
      ]),
      IMAGES,
      { removeOrphans: false },
    );
    assert.equal(formatPlan(plan), 'project shop is up to date: no operations');
    assert.equal(countOperations(plan), 0);
  });

  it('recreates a changed service and restarts dependants that asked for it', () => {
    const old = base();
    const spec = base();
    spec.services.api = { ...spec.services.api, environment: { RELEASE: '2' } };
    const plan = planDeploy(
      spec,
      observed([
        running(old, 'db', 1),
        running(old, 'migrate', 1, { state: 'exited', exitCode: 0 }),
        running(old, 'api', 1),
        running(old, 'web', 1),
        running(old, 'web', 2),
      ]),
      IMAGES,
      { removeOrphans: false },
    );
    assert.equal(
      formatPlan(plan),
      [
        'recreate container:shop-api-1 (config hash changed)',
        'restart container:shop-web-1 (dependency api was recreated)',
        'restart container:shop-web-2 (dependency api was recreated)',
      ].join('\n'),
    );
  });

  it('recreates when the image ID behind a tag changed', () => {
    const spec = base();
    const plan = planDeploy(
      spec,
      observed([running(spec, 'db', 1), running(spec, 'migrate', 1, { state: 'exited', exitCode: 0 }), running(spec, 'api', 1), running(spec, 'web', 1), running(spec, 'web', 2)]),
      { ...IMAGES, db: 'sha256:db-rebuilt' },
      { removeOrphans: false },
    );
    assert.equal(formatPlan(plan).split('\n')[0], 'recreate container:shop-db-1 (config hash changed)');
  });

  it('starts stopped containers, scales down, and keeps orphans unless asked', () => {
    const spec = base();
    spec.services.web = { ...spec.services.web, deploy: { replicas: 1, resources: {} } };
    const containers = [
      running(spec, 'db', 1, { state: 'exited', exitCode: 137 }),
      running(spec, 'migrate', 1, { state: 'exited', exitCode: 0 }),
      running(spec, 'api', 1),
      running(spec, 'web', 1),
      running(spec, 'web', 2),
      { ...running(spec, 'api', 1), id: 'oldid', name: 'shop-worker-1', service: 'worker' },
    ];
    assert.equal(
      formatPlan(planDeploy(spec, observed(containers), IMAGES, { removeOrphans: false })),
      [
        'start container:shop-db-1 (container is exited)',
        'remove container:shop-web-2 (scale down to 1 replica(s))',
        'note: orphan container shop-worker-1 (service worker is not in the compose file); pass --remove-orphans to remove it',
      ].join('\n'),
    );
    assert.equal(
      formatPlan(planDeploy(spec, observed(containers), IMAGES, { removeOrphans: true })).split('\n').at(-1),
      'remove container:shop-worker-1 (orphan: service worker is not in the compose file)',
    );
  });

  it('finishes an interrupted recreate instead of starting over', () => {
    const spec = base();
    const old = base();
    old.services.db = { ...old.services.db, environment: { OLD: '1' } };
    const replacement = running(spec, 'db', 1, { id: 'newid', name: 'shop-db-1_dockflow-next-abc', state: 'created' });
    const plan = planDeploy(spec, observed([replacement]), IMAGES, { removeOrphans: false });
    assert.equal(formatPlan(plan).split('\n')[0], 'create container:shop-db-1 (finish interrupted recreate)');
    const both = planDeploy(spec, observed([running(old, 'db', 1), replacement]), IMAGES, { removeOrphans: false });
    assert.equal(formatPlan(both).split('\n')[0], 'recreate container:shop-db-1 (config hash changed)');
  });

  it('removes leftovers of an interrupted update when the slot already has the desired container', () => {
    const spec = base();
    const old = base();
    old.services.db = { ...old.services.db, environment: { NEW: '1' } };
    const staleReplacement = running(old, 'db', 1, { id: 'staleid', name: 'shop-db-1_dockflow-next-0123', state: 'created' });
    const plan = planDeploy(spec, observed([running(spec, 'db', 1), staleReplacement]), IMAGES, { removeOrphans: false });
    assert.equal(formatPlan(plan).split('\n')[0], 'remove container:shop-db-1_dockflow-next-0123 (leftover from an interrupted update)');
    assert.equal(plan.services[0].operations.length, 1);
  });
});

describe('configHash', () => {
  it('ignores replicas, depends_on, profiles and extensions but not the environment or image', () => {
    const spec = base();
    const db = spec.services.db;
    const h = configHash(spec, db, 'sha256:1');
    assert.equal(configHash(spec, { ...db, deploy: { ...db.deploy, replicas: 5 }, profiles: ['x'], extensions: { 'x-a': 1 }, dependsOn: { api: healthy } }, 'sha256:1'), h);
    assert.notEqual(configHash(spec, { ...db, environment: { A: '1' } }, 'sha256:1'), h);
    assert.notEqual(configHash(spec, db, 'sha256:2'), h);
    assert.match(h, /^[0-9a-f]{64}$/);
  });

  it('does not depend on key order', () => {
    const spec = base();
    const a = { ...spec.services.db, environment: { A: '1', B: '2' } };
    const b = { ...spec.services.db, environment: { B: '2', A: '1' } };
    assert.equal(configHash(spec, a, 'x'), configHash(spec, b, 'x'));
  });
});

describe('topologicalOrder', () => {
  it('puts dependencies first and breaks ties by name', () => {
    assert.deepEqual(topologicalOrder(base()), ['db', 'migrate', 'api', 'web']);
  });
  it('reports a cycle', () => {
    const spec = stack([service('a', { dependsOn: { b: healthy } }), service('b', { dependsOn: { a: healthy } })]);
    assert.throws(() => topologicalOrder(spec), /cycle among services: a, b/);
  });
});
