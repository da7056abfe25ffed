/**
 * The graphs of an operation across hosts (stackGraphs, workflows/host-spread.ts),
 * the one source of both the executor's decisions (apply.ts) and
 * `--dry-run` across hosts (formatHostGraphs): a dependency and an
 * after_replace target on another host are part of a host's graph.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostPart, placeServices } from '../../src/plan/placement';
import { configHash } from '../../src/plan/hash';
import { planDeploy } from '../../src/plan/deploy-plan';
import type { HostInfo } from '../../src/model/hosts';
import type { ObservedContainer } from '../../src/model/observed';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { serviceSpec } from '../support/spec-builders';
import { stackGraphs } from '../../workflows/host-spread';
import { formatHostGraphs } from '../../workflows/host-plans';
import type { HostPlan, Route } from '../../workflows/routes';

const HOSTS: HostInfo[] = [
  { name: 'host-1', labels: {} },
  { name: 'host-2', labels: {} },
];
const OLD = { api: 'sha256:api-old', proxy: 'sha256:proxy', db: 'sha256:db' };
const NEW = { ...OLD, api: 'sha256:api-new' };

function on(host: string, extra: Partial<ServiceSpec> = {}): Partial<ServiceSpec> {
  return { ...extra, deploy: { replicas: 1, resources: {}, placement: { constraints: [`node.hostname == ${host}`] } } };
}

const spec: StackSpec = {
  project: 'p',
  workingDir: '/p',
  composeFiles: [],
  services: {
    db: serviceSpec('db', { ...on('host-2'), healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, disable: false } }),
    proxy: serviceSpec('proxy', on('host-2')),
    api: serviceSpec('api', on('host-1', { dependsOn: { db: { condition: 'service_healthy', restart: false, required: true } }, extensions: { 'x-dockflow': { after_replace: [{ service: 'proxy', signal: 'SIGHUP' }] } } })),
  },
  networks: { default: { name: 'p_default', external: false, driverOpts: {}, internal: false, labels: {} } },
  volumes: {},
  extensions: {},
};

/** Each host's plan: every service running its OLD image, deployed with NEW (api is replaced). */
function hostPlans(): HostPlan[] {
  const placement = placeServices(spec, HOSTS);
  return HOSTS.map(({ name: host }) => {
    const part = hostPart(spec, placement.hostOf, host, placement.spread);
    const containers: ObservedContainer[] = Object.values(part.services).map((s) => ({
      id: `${s.name}1`,
      name: `p-${s.name}-1`,
      service: s.name,
      number: 1,
      oneoff: false,
      configHash: configHash(part, s, OLD[s.name as keyof typeof OLD]),
      imageId: OLD[s.name as keyof typeof OLD],
      state: 'running',
      health: s.healthcheck ? 'healthy' : undefined,
      exitCode: undefined,
      replaces: undefined,
    }));
    const observed = { project: 'p', containers, networks: [{ key: 'default', name: 'p_default', id: 'n' }], volumes: [] };
    const ids = Object.fromEntries(Object.keys(part.services).map((s) => [s, NEW[s as keyof typeof NEW]]));
    return { host, spec: part, route: { name: host } as unknown as Route, plan: planDeploy(part, observed, ids, { removeOrphans: false }) };
  });
}

describe('plan graphs across hosts', () => {
  it("a host's graph keeps the gate on a dependency on another host and the after_replace of a service on another host", () => {
    const parts = hostPlans();
    assert.deepEqual(parts.map((p) => Object.keys(p.spec.services).sort()), [['api'], ['db', 'proxy']]);
    const { graphOf } = stackGraphs(spec, parts, { wait: true });
    assert.deepEqual(graphOf('api').gates.api, [{ service: 'db', condition: 'healthy' }]);
    assert.deepEqual(graphOf('api').rollout('api')?.nudges, [{ service: 'proxy', signal: 'SIGHUP' }]);
    const text = formatHostGraphs(spec, parts, { wait: true });
    const host1 = text.split('on host-2:')[0];
    assert.match(host1, /^ {2}send SIGHUP to service:proxy \(after_replace: api was replaced\) after container:p-api-1$/m, text);
  });
});
