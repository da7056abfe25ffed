/**
 * What the executor (workflows/apply.ts) reads from the plan graph
 * (src/plan/graph.ts): each node's `run`, and the accessors built on them
 * (direct steps, rollout batches and nudges, gates, final waits, orphans).
 * The executor decides nothing the graph does not say, so these are the
 * executor's decisions, tested as data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planDeploy } from '../../src/plan/deploy-plan';
import { configHash } from '../../src/plan/hash';
import { planGraph, RECONVERGE_ROUNDS, type GraphOptions, type PlanGraph } from '../../src/plan/graph';
import type { ObservedContainer, ObservedProject } from '../../src/model/observed';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';

const IMAGES: Record<string, string> = { db: 'sha256:db', web: 'sha256:web', proxy: 'sha256:proxy', seed: 'sha256:seed', api: 'sha256:api' };
const NEW_WEB = { ...IMAGES, web: 'sha256:web2' };
const HEALTHCHECK = { test: ['CMD', 'true'], intervalMs: 1000, disable: false };
const NOTHING: ObservedProject = { project: 'shop', containers: [], networks: [], volumes: [] };

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

/** The containers of `spec` as they run when deployed with IMAGES, plus `extra`. */
function deployed(spec: StackSpec, extra: ObservedContainer[] = []): ObservedProject {
  const containers: ObservedContainer[] = Object.values(spec.services).flatMap((service) =>
    Array.from({ length: service.deploy.replicas }, (_, i) => ({
      id: `${service.name}${i + 1}id`,
      name: `shop-${service.name}-${i + 1}`,
      service: service.name,
      number: i + 1,
      oneoff: false,
      configHash: configHash(spec, service, IMAGES[service.name]),
      imageId: IMAGES[service.name],
      state: 'running' as const,
      health: service.healthcheck ? ('healthy' as const) : undefined,
      exitCode: undefined,
      replaces: undefined,
    })),
  );
  return { project: 'shop', containers: [...containers, ...extra], networks: [{ key: 'default', name: 'shop_default', id: 'n1' }], volumes: [] };
}

function graph(spec: StackSpec, observed: ObservedProject, options: GraphOptions, images = IMAGES): PlanGraph {
  return planGraph(spec, planDeploy(spec, observed, images, { removeOrphans: true }), options);
}

const webWithProxy = (order: 'start-first' | 'stop-first', parallelism: number) =>
  stack([
    serviceSpec('proxy'),
    serviceSpec('web', {
      deploy: { replicas: 3, resources: {}, updateConfig: { order, parallelism } },
      extensions: { 'x-dockflow': { after_replace: [{ service: 'proxy', signal: 'SIGHUP' }, { service: 'elsewhere', action: 'restart' }] } },
    }),
  ]);

describe('plan graph: what the executor runs', () => {
  it('every node carries the run its id names', () => {
    const spec = stack([serviceSpec('db', { healthcheck: HEALTHCHECK }), serviceSpec('web', { dependsOn: { db: { condition: 'service_healthy', restart: false, required: true } } })]);
    const g = graph(spec, NOTHING, { wait: true });
    const kindOf: Record<string, string> = { network: 'ensure', container: 'container', healthy: 'wait', observe: 're-observe', verify: 'verify' };
    for (const node of g.nodes) assert.equal(node.run.kind, kindOf[node.id.split(':')[0]], node.id);
    assert.deepEqual(
      g.nodes.filter((n) => n.run.kind === 'wait').map((n) => n.run),
      [{ kind: 'wait', service: 'db', container: 'shop-db-1', condition: 'healthy' }],
    );
  });

  it('direct steps: a service created now runs its creates, folded with their wait when nothing depends on it', () => {
    const spec = stack([serviceSpec('web', { healthcheck: HEALTHCHECK, deploy: { replicas: 2, resources: {} } })]);
    const folded = graph(spec, NOTHING, { wait: true });
    assert.deepEqual(
      folded.direct('web').map((r) => [r.op.action, r.op.name, r.foldsWait]),
      [
        ['create', 'shop-web-1', true],
        ['create', 'shop-web-2', true],
      ],
    );
    assert.deepEqual([...folded.finalWaits], ['web']);
    const elsewhere = graph(spec, NOTHING, { wait: true, dependedOnElsewhere: ['web'] });
    assert.deepEqual(elsewhere.direct('web').map((r) => r.foldsWait), [false, false]);
    assert.deepEqual([...elsewhere.finalWaits], ['web']);
    assert.deepEqual([...graph(spec, NOTHING, { wait: false }).finalWaits], []);
    assert.deepEqual(folded.waitTargets, { web: ['shop-web-1', 'shop-web-2'] });
    // Untouched and healthy as observed: nothing to wait for, and no wait node.
    const ready = graph(spec, deployed(spec), { wait: true });
    assert.deepEqual(ready.waitTargets, { web: undefined });
    assert.equal(ready.nodes.filter((n) => n.run.kind === 'wait').length, 0);
    // A rolled service runs nothing directly, and is waited for when it has rolled.
    const rolled = graph(spec, deployed(spec), { wait: false }, NEW_WEB);
    assert.deepEqual(rolled.direct('web'), []);
    assert.deepEqual(rolled.waitTargets, { web: ['shop-web-1', 'shop-web-2'] });
  });

  it('rollout: the batches of the replace nodes; start-first nudges per batch, stop-first once; a target outside the stack is dropped unless another host has it', () => {
    const startFirst = webWithProxy('start-first', 2);
    const sf = graph(startFirst, deployed(startFirst), { wait: false }, NEW_WEB).rollout('web')!;
    assert.deepEqual(sf.batches.map((b) => b.map((op) => op.name)), [['shop-web-1', 'shop-web-2'], ['shop-web-3']]);
    assert.equal(sf.decision.order, 'start-first');
    assert.equal(sf.nudgePerBatch, true);
    assert.deepEqual(sf.nudges, [{ service: 'proxy', signal: 'SIGHUP' }]);

    const stopFirst = webWithProxy('stop-first', 1);
    const sp = graph(stopFirst, deployed(stopFirst), { wait: false }, NEW_WEB).rollout('web')!;
    assert.deepEqual(sp.batches.map((b) => b.map((op) => op.name)), [['shop-web-1'], ['shop-web-2'], ['shop-web-3']]);
    assert.equal(sp.nudgePerBatch, false);
    assert.deepEqual(sp.nudges, [{ service: 'proxy', signal: 'SIGHUP' }]);

    // One host's part: the service `elsewhere` runs on another host, and is nudged there too.
    const part = graph(stopFirst, deployed(stopFirst), { wait: false, stackServices: ['proxy', 'web', 'elsewhere'] }, NEW_WEB);
    assert.deepEqual(part.rollout('web')!.nudges, [{ service: 'proxy', signal: 'SIGHUP' }, { service: 'elsewhere', action: 'restart' }]);
    assert.match(part.toString(), /^restart service:elsewhere \(after_replace: web was replaced\)/m);

    assert.equal(graph(stopFirst, deployed(stopFirst), { wait: false }).rollout('web'), undefined);
  });

  it('rollout refused: the decision carries the refusal and there are no batches', () => {
    const ports = [{ target: 80, published: '8080', protocol: 'tcp' as const }];
    const spec = stack([serviceSpec('web', { ports, deploy: { replicas: 1, resources: {}, updateConfig: { order: 'start-first' } } })]);
    const rollout = graph(spec, deployed(spec), { wait: false }, NEW_WEB).rollout('web')!;
    assert.match(rollout.decision.refusal ?? '', /^service web: update order start-first needs/);
    assert.deepEqual(rollout.batches, []);
  });

  it('gates: each dependency with its condition, in depends_on order; one outside the plan only when another host has its steps', () => {
    const spec = stack([
      serviceSpec('db', { healthcheck: HEALTHCHECK }),
      serviceSpec('seed', { restart: 'no' }),
      serviceSpec('api'),
      serviceSpec('web', {
        dependsOn: {
          db: { condition: 'service_healthy', restart: false, required: true },
          seed: { condition: 'service_completed_successfully', restart: false, required: true },
          api: { condition: 'service_started', restart: false, required: true },
          cache: { condition: 'service_started', restart: false, required: false },
        },
      }),
    ]);
    const g = graph(spec, NOTHING, { wait: false });
    assert.deepEqual(g.gates.web, [
      { service: 'db', condition: 'healthy' },
      { service: 'seed', condition: 'completed' },
      { service: 'api', condition: 'started' },
    ]);
    assert.deepEqual(g.gates.db, []);
    const part = graph(spec, NOTHING, { wait: false, stackSteps: ['cache'] });
    assert.deepEqual(part.gates.web.at(-1), { service: 'cache', condition: 'started' });
    // The graph text has no node for a gate on another host's part.
    assert.equal(part.toString(), g.toString());
  });

  it('orphans: removed after all above, as the plan lists them; the re-observe rounds are the constant the executor runs', () => {
    const spec = stack([serviceSpec('web')]);
    const old: ObservedContainer = { ...deployed(spec).containers[0], id: 'oldid', name: 'shop-old-1', service: 'old' };
    const g = graph(spec, deployed(spec, [old]), { wait: false });
    assert.deepEqual(g.orphans().map((op) => [op.action, op.name, op.containerId]), [['remove', 'shop-old-1', 'oldid']]);
    assert.ok(g.nodes.find((n) => n.run.kind === 'remove orphan')?.afterAll);
    assert.equal(RECONVERGE_ROUNDS, 2);
    assert.match(g.toString(), /up to 2 rounds/);
  });
});
