/** Placement of services on hosts (src/plan/placement.ts) and the loader's deploy.placement. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementError, hostPart, parseConstraint, placeServices } from '../../src/plan/placement';
import { configHash } from '../../src/plan/hash';
import { hostTaskQueue, isHostName, parseHostLabel, type HostInfo } from '../../src/model/hosts';
import type { StackSpec, ServiceSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';
import { loadText } from '../fixtures/compose/support';
import { hostFromEnv } from '../../workers/main';
import { DeployInput, formatZodError } from '../../src/model/input';

const HOSTS: HostInfo[] = [
  { name: 'host-1', labels: { zone: 'eu', disk: 'ssd' } },
  { name: 'host-2', labels: { zone: 'eu' } },
  { name: 'host-3', labels: { zone: 'us' } },
];

function placed(constraints: string[], extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return serviceSpec('x', { ...extra, deploy: { replicas: 1, resources: {}, ...(constraints.length ? { placement: { constraints } } : {}) } });
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

describe('placement constraints', () => {
  it('parses hostname and label constraints with == and !=', () => {
    assert.deepEqual(parseConstraint('node.hostname == host-1'), { attribute: 'hostname', equal: true, value: 'host-1' });
    assert.deepEqual(parseConstraint('node.labels.zone!=eu'), { attribute: 'label', label: 'zone', equal: false, value: 'eu' });
    assert.equal(parseConstraint('node.role == manager'), undefined);
    assert.equal(parseConstraint('node.hostname = host-1'), undefined);
  });

  it('places each service on the host its constraints name', () => {
    const spec = stack({
      db: placed(['node.hostname == host-3']),
      web: placed(['node.labels.disk == ssd']),
      api: placed(['node.labels.zone == eu', 'node.hostname != host-1']),
    });
    const p = placeServices(spec, HOSTS);
    assert.deepEqual(p.hostOf, { api: 'host-2', db: 'host-3', web: 'host-1' });
    assert.deepEqual(p.hosts, ['host-1', 'host-2', 'host-3']);
  });

  it('a host without the label passes != and fails ==', () => {
    const spec = stack({ a: placed(['node.labels.disk != ssd', 'node.labels.zone == eu']) });
    assert.deepEqual(placeServices(spec, HOSTS).hostOf, { a: 'host-2' });
  });

  it('among several qualifying hosts takes the default host, else the first by name', () => {
    const spec = stack({ a: placed(['node.labels.zone == eu']) });
    assert.equal(placeServices(spec, HOSTS).hostOf.a, 'host-1');
    assert.equal(placeServices(spec, HOSTS, 'host-2').hostOf.a, 'host-2');
    assert.equal(placeServices(spec, HOSTS, 'host-3').hostOf.a, 'host-1');
  });

  it('a stack without constraints runs on the default host, or the only one', () => {
    const spec = stack({ a: placed([]), b: placed([]) });
    assert.deepEqual(placeServices(spec, HOSTS, 'host-2').hostOf, { a: 'host-2', b: 'host-2' });
    assert.deepEqual(placeServices(spec, [HOSTS[2]]).hostOf, { a: 'host-3', b: 'host-3' });
    throwsPlacement(() => placeServices(spec, HOSTS), 'a', 'services.a.deploy.placement.constraints', /several hosts \(host-1, host-2, host-3\): pass --host/);
  });

  it('a constraint no host satisfies names the service and the key', () => {
    const spec = stack({ a: placed([]), b: placed(['node.labels.zone == asia']) });
    throwsPlacement(() => placeServices(spec, HOSTS, 'host-1'), 'b', 'services.b.deploy.placement.constraints', /no host satisfies "node.labels.zone == asia" for service b; hosts: host-1 \(zone=eu, disk=ssd\)/);
  });

  it('a constraint it does not understand names its index', () => {
    const spec = stack({ a: placed(['node.hostname == host-1', 'node.role == manager']) });
    throwsPlacement(() => placeServices(spec, HOSTS), 'a', 'services.a.deploy.placement.constraints[1]', /"node.role == manager" is not a constraint/);
  });

  it('an unknown default host is refused', () => {
    throwsPlacement(() => placeServices(stack({ a: placed([]) }), HOSTS, 'host-9'), 'a', '--host', /no host named host-9 is registered/);
  });

  it('a network shared by services on different hosts is refused, naming the service and the key', () => {
    const net = { back: { name: 'p_back', external: false, driverOpts: {}, internal: false, labels: {} } };
    const spec = stack(
      {
        api: placed(['node.hostname == host-1'], { networks: { back: { aliases: [] } } }),
        db: placed(['node.hostname == host-2'], { networks: { back: { aliases: [] } } }),
      },
      net,
    );
    throwsPlacement(() => placeServices(spec, HOSTS), 'db', 'services.db.networks.back', /shared by services placed on different hosts \(api on host-1, db on host-2\).*published ports.*external network/);
    // Same host: fine. External network: the user provides it on every host.
    assert.deepEqual(placeServices({ ...spec, services: { ...spec.services, db: { ...spec.services.db, deploy: { replicas: 1, resources: {}, placement: { constraints: ['node.hostname == host-1'] } } } } }, HOSTS).hosts, ['host-1']);
    assert.deepEqual(placeServices({ ...spec, networks: { ...spec.networks, back: { ...net.back, external: true } } }, HOSTS).hosts, ['host-1', 'host-2']);
  });

  it('the default network is per host, with a note', () => {
    const spec = stack({ a: placed(['node.hostname == host-1']), b: placed(['node.hostname == host-2']) });
    const p = placeServices(spec, HOSTS);
    assert.deepEqual(p.hostOf, { a: 'host-1', b: 'host-2' });
    assert.match(p.notes[0], /default network is created on each host separately \(a on host-1, b on host-2\)/);
  });

  it("a host's part keeps its services, their networks and volumes, and the same config hashes", () => {
    const spec = stack(
      {
        a: placed(['node.hostname == host-1'], { networks: { front: { aliases: [] } }, volumes: [{ type: 'volume', source: 'data', target: '/d', readOnly: false }] }),
        b: placed(['node.hostname == host-2']),
      },
      { front: { name: 'p_front', external: false, driverOpts: {}, internal: false, labels: {} } },
    );
    spec.volumes = { data: { name: 'p_data', external: false, driverOpts: {}, labels: {} } };
    const { hostOf } = placeServices(spec, HOSTS);
    const one = hostPart(spec, hostOf, 'host-1');
    assert.deepEqual(Object.keys(one.services), ['a']);
    assert.deepEqual(Object.keys(one.networks), ['front']);
    assert.deepEqual(Object.keys(one.volumes), ['data']);
    const two = hostPart(spec, hostOf, 'host-2');
    assert.deepEqual(Object.keys(two.networks), ['default']);
    assert.deepEqual(Object.keys(two.volumes), []);
    assert.equal(configHash(one, one.services.a, 'sha256:1'), configHash(spec, spec.services.a, 'sha256:1'));
  });
});

describe('host names and labels', () => {
  it('a host name follows the project name rule', () => {
    assert.ok(isHostName('host-1'));
    for (const bad of ['Host', '../x', 'a/b', '', '-a', 'a@b']) assert.equal(isHostName(bad), false, bad);
    assert.equal(hostTaskQueue('dockflow', 'host-1'), 'dockflow@host-1');
    assert.throws(() => hostTaskQueue('dockflow', '../x'), /not a valid host name/);
  });

  it('a worker is a host by --host or DOCKFLOW_HOST, with labels from --label or DOCKFLOW_HOST_LABELS', () => {
    assert.equal(hostFromEnv({}), undefined);
    assert.deepEqual(hostFromEnv({ DOCKFLOW_HOST: 'vps-1', DOCKFLOW_HOST_LABELS: 'zone=eu,disk=ssd' }), { name: 'vps-1', labels: { zone: 'eu', disk: 'ssd' } });
    assert.deepEqual(hostFromEnv({ DOCKFLOW_HOST: 'vps-1' }, { host: 'vps-2', labels: ['zone=us'] }), { name: 'vps-2', labels: { zone: 'us' } });
    assert.throws(() => hostFromEnv({}, { host: '../etc' }), /--host: "\.\.\/etc" is not a valid host name/);
    assert.throws(() => hostFromEnv({}, { labels: ['zone=eu'] }), /--label \(DOCKFLOW_HOST_LABELS\) needs --host/);
  });

  it('labels are KEY=VALUE', () => {
    assert.deepEqual(parseHostLabel('zone=eu'), ['zone', 'eu']);
    assert.deepEqual(parseHostLabel('x=a=b'), ['x', 'a=b']);
    assert.throws(() => parseHostLabel('=eu'), /--label "=eu": expected KEY=VALUE/);
    assert.throws(() => parseHostLabel('zone'), /expected KEY=VALUE/);
  });
});

describe('the loader and deploy.placement', () => {
  it('keeps constraints, and leaves specs without them as they were', () => {
    const spec = loadText('services:\n  web:\n    image: x\n    deploy: {placement: {constraints: ["node.hostname == host-1"]}}\n  db: {image: y}\n').spec;
    assert.deepEqual(spec.services.web.deploy.placement, { constraints: ['node.hostname == host-1'] });
    assert.equal('placement' in spec.services.db.deploy, false);
  });

  it('constraints do not change the config hash (moving a service is not a change of its containers)', () => {
    const a = loadText('services:\n  web:\n    image: x\n').spec;
    const b = loadText('services:\n  web:\n    image: x\n    deploy: {placement: {constraints: ["node.hostname == h"]}}\n').spec;
    assert.equal(configHash(a, a.services.web, 'sha256:1'), configHash(b, b.services.web, 'sha256:1'));
  });
});

describe('workflow inputs naming hosts', () => {
  const base = { composeFiles: ['/srv/p/compose.yml'] };
  it('accepts hosts with labels and a default host among them', () => {
    const parsed = DeployInput.parse({ ...base, hosts: [{ name: 'host-1', labels: { zone: 'eu' } }], host: 'host-1', hostSilenceSeconds: 5 });
    assert.deepEqual(parsed.hosts, [{ name: 'host-1', labels: { zone: 'eu' } }]);
  });
  it('refuses a host name that breaks the rule, and a default host not among the hosts', () => {
    const bad = DeployInput.safeParse({ ...base, hosts: [{ name: 'a/../b', labels: {} }] });
    assert.equal(bad.success, false);
    assert.match(formatZodError(bad.error!), /input\.hosts\[0\]\.name: not a valid host name/);
    const missing = DeployInput.safeParse({ ...base, hosts: [{ name: 'host-1', labels: {} }], host: 'host-2' });
    assert.equal(missing.success, false);
    assert.match(formatZodError(missing.error!), /input\.host: "host" must be one of "hosts"/);
  });
});
