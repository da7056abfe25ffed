/** Replicas of one service spread over several hosts (src/plan/placement.ts), their host parts, and the executor's merged step (workflows/host-spread.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementError, checkOneHost, hostPart, placeServices, recordedPlacement, servicesOn, slotsOn } from '../../src/plan/placement';
import { configHash } from '../../src/plan/hash';
import { formatPlan, planDeploy } from '../../src/plan/deploy-plan';
import { hostDifferences } from '../../src/plan/verify';
import type { HostInfo } from '../../src/model/hosts';
import type { ObservedContainer } from '../../src/model/observed';
import { DeploySpec, type ServiceSpec, type StackSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';
import { loadText } from '../fixtures/compose/support';
import { stackSteps } from '../../workflows/host-spread';
import { formatHostGraphs } from '../../workflows/host-plans';
import type { HostPlan, Route } from '../../workflows/routes';

const HOSTS: HostInfo[] = [
  { name: 'host-2', labels: { zone: 'eu' } },
  { name: 'host-1', labels: { zone: 'eu', disk: 'ssd' } },
  { name: 'host-3', labels: { zone: 'us' } },
];

function svc(replicas: number, constraints: string[], max?: number, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  const placement = constraints.length || max !== undefined ? { placement: { constraints, ...(max !== undefined ? { maxReplicasPerNode: max } : {}) } } : {};
  return serviceSpec('x', { ...extra, deploy: { replicas, resources: {}, ...placement } });
}

function stack(services: Record<string, ServiceSpec>, networks: StackSpec['networks'] = {}): StackSpec {
  const named = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, { ...s, name }]));
  const defaults = { default: { name: 'p_default', external: false, driverOpts: {}, internal: false, labels: {} } };
  return { project: 'p', workingDir: '/p', composeFiles: [], services: named, networks: { ...defaults, ...networks }, volumes: {}, extensions: {} };
}

function throwsPlacement(fn: () => unknown, service: string, key: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PlacementError, String(err));
    assert.equal(err.service, service);
    assert.equal(err.key, key);
    assert.match(err.message, message);
    return true;
  });
}

describe('spread of replicas over hosts', () => {
  it('spreads a constrained multi-replica service evenly, replica n on the ((n-1) mod k)-th host by name', () => {
    const spec = stack({ web: svc(3, ['node.labels.zone == eu']) });
    const p = placeServices(spec, HOSTS, 'host-2');
    assert.deepEqual(p.spread, { web: ['host-1', 'host-2'] });
    assert.deepEqual(p.hostOf, { web: 'host-1' });
    assert.deepEqual(p.hosts, ['host-1', 'host-2']);
    assert.deepEqual(slotsOn(p, 'web', 3, 'host-1'), [1, 3]);
    assert.deepEqual(slotsOn(p, 'web', 3, 'host-2'), [2]);
    assert.deepEqual(slotsOn(p, 'web', 3, 'host-3'), []);
  });

  it('keeps on one host: a service without constraints, a single replica, and a run from before spread', () => {
    const spec = stack({ api: svc(3, []), one: svc(1, ['node.labels.zone == eu']), web: svc(2, ['node.labels.zone == eu']) });
    const p = placeServices(spec, HOSTS, 'host-2');
    assert.deepEqual(p.hostOf, { api: 'host-2', one: 'host-2', web: 'host-1' });
    assert.deepEqual(Object.keys(p.spread ?? {}), ['web']);
    const old = placeServices(spec, HOSTS, 'host-2', { spread: false });
    assert.equal(old.spread, undefined);
    assert.deepEqual(old.hostOf, { api: 'host-2', one: 'host-2', web: 'host-2' });
    assert.deepEqual(old.hosts, ['host-2']);
  });

  it('honours max_replicas_per_node, and refuses replicas the qualifying hosts cannot hold under it', () => {
    const three = stack({ web: svc(3, ['node.hostname != host-9'], 1) });
    const p = placeServices(three, HOSTS);
    assert.deepEqual(['host-1', 'host-2', 'host-3'].map((h) => slotsOn(p, 'web', 3, h)), [[1], [2], [3]]);
    const key = 'services.web.deploy.placement.max_replicas_per_node';
    throwsPlacement(() => placeServices(stack({ web: svc(3, ['node.labels.zone == eu'], 1) }), HOSTS), 'web', key, /service web has 3 replicas but max_replicas_per_node 1 on 2 host\(s\).*holds 2/);
    // One host: unconstrained, or a constraint only one host satisfies.
    throwsPlacement(() => placeServices(stack({ web: svc(3, [], 2) }), HOSTS, 'host-1'), 'web', key, /3 replicas but max_replicas_per_node 2 on 1 host\(s\)/);
    throwsPlacement(() => placeServices(stack({ web: svc(2, ['node.hostname == host-3'], 1) }), HOSTS), 'web', key, /on 1 host\(s\)/);
    assert.deepEqual(placeServices(stack({ web: svc(4, ['node.labels.zone == eu'], 2) }), HOSTS).spread, { web: ['host-1', 'host-2'] });
    // No hosts registered: the single host holds every replica, under the cap.
    throwsPlacement(() => checkOneHost(stack({ web: svc(3, ['node.labels.zone == eu'], 2) })), 'web', key, /3 replicas but max_replicas_per_node 2 on 1 host\(s\)/);
    assert.doesNotThrow(() => checkOneHost(stack({ web: svc(2, [], 2), api: svc(5, []) })));
  });

  it('refuses a non-external network shared by the replicas of a spread service, naming the service and the key', () => {
    const back = { name: 'p_back', external: false, driverOpts: {}, internal: false, labels: {} };
    const spec = stack({ web: svc(2, ['node.labels.zone == eu'], undefined, { networks: { back: { aliases: [] } } }) }, { back });
    throwsPlacement(() => placeServices(spec, HOSTS), 'web', 'services.web.networks.back', /shared by services placed on different hosts \(web on host-1, web on host-2\)/);
    assert.deepEqual(placeServices({ ...spec, networks: { ...spec.networks, back: { ...back, external: true } } }, HOSTS).hosts, ['host-1', 'host-2']);
    const onDefault = placeServices(stack({ web: svc(2, ['node.labels.zone == eu']) }), HOSTS);
    assert.match(onDefault.notes[0], /default network is created on each host separately \(web on host-1, web on host-2\)/);
  });

  it("gives each host's part its slots, with the whole stack's config hash", () => {
    const spec = stack({ web: svc(3, ['node.labels.zone == eu']), db: svc(1, ['node.hostname == host-2']) });
    const p = placeServices(spec, HOSTS);
    const one = hostPart(spec, p.hostOf, 'host-1', p.spread);
    const two = hostPart(spec, p.hostOf, 'host-2', p.spread);
    assert.deepEqual(Object.keys(one.services), ['web']);
    assert.deepEqual(Object.keys(two.services).sort(), ['db', 'web']);
    assert.deepEqual(one.services.web.deploy.slots, [1, 3]);
    assert.deepEqual(two.services.web.deploy.slots, [2]);
    assert.equal(two.services.db.deploy.slots, undefined);
    assert.equal(configHash(one, one.services.web, 'sha256:w'), configHash(spec, spec.services.web, 'sha256:w'));
    assert.deepEqual(servicesOn(spec, p, 'host-2').sort(), ['db', 'web']);
  });

  it('a recorded spread spreads the replicas of an update again over the same hosts', () => {
    const spec = stack({ web: svc(4, ['node.labels.zone == eu'], 2) });
    const p = recordedPlacement(spec, { web: 'host-1' }, { web: ['host-1', 'host-2'] });
    assert.deepEqual([slotsOn(p, 'web', 4, 'host-1'), slotsOn(p, 'web', 4, 'host-2')], [[1, 3], [2, 4]]);
    const down = recordedPlacement(stack({ web: svc(1, ['node.labels.zone == eu']) }), { web: 'host-1' }, { web: ['host-1', 'host-2'] });
    assert.deepEqual(down.hosts, ['host-1']);
    throwsPlacement(() => recordedPlacement(stack({ web: svc(5, ['node.labels.zone == eu'], 2) }), { web: 'host-1' }, { web: ['host-1', 'host-2'] }), 'web', 'services.web.deploy.placement.max_replicas_per_node', /5 replicas/);
    // Without a spread, what it always was.
    assert.deepEqual(recordedPlacement(stack({ a: svc(1, []) }), { a: 'host-3' }), { hostOf: { a: 'host-3' }, hosts: ['host-3'], notes: [] });
  });
});

describe("a host's part of a spread service, planned and verified", () => {
  const spec = stack({ web: svc(3, ['node.labels.zone == eu']) });
  const p = placeServices(spec, HOSTS);
  const one = hostPart(spec, p.hostOf, 'host-1', p.spread);
  const hash = configHash(spec, spec.services.web, 'sha256:w');
  const container = (number: number): ObservedContainer => ({
    id: `id${number}`, name: `p-web-${number}`, service: 'web', number, oneoff: false, configHash: hash, imageId: 'sha256:w', state: 'running', health: undefined, exitCode: undefined, replaces: undefined,
  });
  const observed = (numbers: number[]) => ({ project: 'p', containers: numbers.map(container), networks: [{ key: 'default', name: 'p_default', id: 'n' }], volumes: [] });

  it('creates only its own replicas, and removes one whose slot another host runs', () => {
    const plan = planDeploy(one, observed([2]), { web: 'sha256:w' }, { removeOrphans: false });
    assert.equal(formatPlan(plan), ['create container:p-web-1 (missing)', 'create container:p-web-3 (missing)', 'remove container:p-web-2 (replica 2 runs on another host)'].join('\n'));
    assert.deepEqual(plan.services[0].containers, ['p-web-1', 'p-web-3']);
  });

  it('verifies the host against its own replicas', () => {
    assert.deepEqual(hostDifferences(one, { web: 'sha256:w' }, observed([1, 3])), []);
    const missing = hostDifferences(one, { web: 'sha256:w' }, observed([1]));
    assert.match(missing.map((d) => d.message).join(';'), /1 container\(s\) on the host \(p-web-1\), the spec says 2 replica\(s\)/);
  });
});

describe('the executor sees a spread service as one step', () => {
  it('merges its steps in replica order, each container routed to its host', () => {
    const spec = stack({ web: svc(3, ['node.labels.zone == eu']), db: svc(1, ['node.hostname == host-2']) });
    const p = placeServices(spec, HOSTS);
    const routes = { 'host-1': { name: 'r1' } as unknown as Route, 'host-2': { name: 'r2' } as unknown as Route };
    const parts: HostPlan[] = (['host-1', 'host-2'] as const).map((host) => {
      const part = hostPart(spec, p.hostOf, host, p.spread);
      return { host, spec: part, route: routes[host], plan: planDeploy(part, { project: 'p', containers: [], networks: [], volumes: [] }, { web: 'sha256:w', db: 'sha256:d' }, { removeOrphans: false }) };
    });
    const steps = stackSteps(spec, parts);
    const web = steps.ordered.find((s) => s.service === 'web')!;
    assert.deepEqual(web.containers, ['p-web-1', 'p-web-2', 'p-web-3']);
    assert.deepEqual(web.operations.map((o) => o.name), ['p-web-1', 'p-web-2', 'p-web-3']);
    assert.deepEqual(['p-web-1', 'p-web-2', 'p-web-3'].map((n) => steps.routeOfContainer.get(n)), [routes['host-1'], routes['host-2'], routes['host-1']]);
    assert.deepEqual(steps.spreadPlan?.services.map((s) => s.service), ['web']);
    assert.deepEqual(steps.hostsOfSpread.get('web'), [routes['host-1'], routes['host-2']]);
    assert.equal(steps.hostsOfSpread.get('db'), undefined);
    assert.equal(steps.ordered.filter((s) => s.service === 'db').length, 1);
    // One host: its plan as it is, nothing merged.
    const single = stackSteps(parts[0].spec, [parts[0]]);
    assert.equal(single.ordered, parts[0].plan.services);
    assert.equal(single.spreadPlan, undefined);
  });
});

describe('the loader and max_replicas_per_node', () => {
  it('keeps it beside the constraints, and alone', () => {
    const spec = loadText('services:\n  web:\n    image: x\n    deploy: {replicas: 2, placement: {constraints: ["node.labels.zone == eu"], max_replicas_per_node: 1}}\n  api:\n    image: y\n    deploy: {placement: {max_replicas_per_node: 2}}\n').spec;
    assert.deepEqual(spec.services.web.deploy.placement, { constraints: ['node.labels.zone == eu'], maxReplicasPerNode: 1 });
    assert.deepEqual(spec.services.api.deploy.placement, { constraints: [], maxReplicasPerNode: 2 });
  });
});

describe('--dry-run across hosts shows a spread service rolled as one', () => {
  it('its batches span the hosts, in replica order, each replica named with its host; the hosts\' blocks leave it out', () => {
    const spec = stack({ web: svc(3, ['node.labels.zone == eu'], undefined, { deploy: { replicas: 3, resources: {}, placement: { constraints: ['node.labels.zone == eu'] }, updateConfig: { parallelism: 1, order: 'stop-first' } } }), db: svc(1, ['node.hostname == host-2']) });
    const p = placeServices(spec, HOSTS);
    const routes = { 'host-1': { name: 'r1' } as unknown as Route, 'host-2': { name: 'r2' } as unknown as Route };
    // Every replica runs the old image: each is replaced.
    const running = (part: StackSpec, service: string, numbers: number[]): ObservedContainer[] =>
      numbers.map((number) => ({
        id: `${service}${number}`, name: `p-${service}-${number}`, service, number, oneoff: false, configHash: configHash(part, part.services[service], 'sha256:old'), imageId: 'sha256:old', state: 'running', health: undefined, exitCode: undefined, replaces: undefined,
      }));
    const parts: HostPlan[] = (['host-1', 'host-2'] as const).map((host) => {
      const part = hostPart(spec, p.hostOf, host, p.spread);
      const containers = [...running(part, 'web', slotsOn(p, 'web', 3, host)), ...(host === 'host-2' ? running(part, 'db', [1]) : [])];
      const observedPart = { project: 'p', containers, networks: [{ key: 'default', name: 'p_default', id: 'n' }], volumes: [] };
      return { host, spec: part, route: routes[host], plan: planDeploy(part, observedPart, { web: 'sha256:w', db: 'sha256:old' }, { removeOrphans: false }) };
    });
    const text = formatHostGraphs(spec, parts, { wait: true });
    const [hostBlocks, across] = text.split('across hosts');
    assert.doesNotMatch(hostBlocks, /p-web-/, text);
    assert.match(across, /^ \(replicas spread over several hosts, rolled as one; web: p-web-1 on host-1, p-web-2 on host-2, p-web-3 on host-1\):/, text);
    const batches = [...across.matchAll(/stop-first replace container:(p-web-\d) \(.*?batch (\d)\/3/g)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(batches, ['p-web-1 1', 'p-web-2 2', 'p-web-3 3'], text);
  });
});

describe('deploy.slots in a spec from outside', () => {
  it('is refused when it names a replica past deploy.replicas, or one twice; a host part\'s own slots pass', () => {
    const withSlots = (replicas: number, slots: number[]) => DeploySpec.safeParse({ replicas, resources: {}, slots });
    assert.equal(withSlots(3, [1, 3]).success, true);
    for (const bad of [withSlots(3, [4]), withSlots(3, [2, 2]), withSlots(0, [1])]) {
      assert.equal(bad.success, false);
      assert.match(bad.error!.issues[0].message, /deploy\.slots: distinct replica numbers, each at most deploy\.replicas/);
    }
  });
});
