/**
 * What the ledger may claim: specs that can never be true are refused before
 * anything starts (loader with file and key, inline workflow spec), the host
 * is compared with the spec before a revision is recorded, and containers
 * docker compose started are taken over, not treated as leftovers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { impossibleSpecProblems } from '../../src/model/feasibility';
import { hostDifferences } from '../../src/plan/verify';
import { configHash } from '../../src/plan/hash';
import { formatPlan, planDeploy } from '../../src/plan/deploy-plan';
import { DeployInput, formatZodError } from '../../src/model/input';
import { isStartedByCompose, Label } from '../../src/model/labels';
import type { ObservedContainer, ObservedProject } from '../../src/model/observed';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { loadStack } from '../../src/compose';
import { projectDir, throwsCompose } from '../fixtures/compose/support';
import { serviceSpec } from '../support/spec-builders';

const service = serviceSpec;

function stack(services: ServiceSpec[]): StackSpec {
  return {
    project: 'gantry',
    workingDir: '/srv/gantry',
    composeFiles: ['/srv/gantry/docker-compose.yml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: { default: { name: 'gantry_default', external: false, driverOpts: {}, internal: false, labels: {} } },
    volumes: {},
    extensions: {},
  };
}

const IMAGE = 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaa';

function container(spec: StackSpec, svc: string, number: number, extra: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: `${svc}${number}`,
    name: `gantry-${svc}-${number}`,
    service: svc,
    number,
    oneoff: false,
    configHash: configHash(spec, spec.services[svc], IMAGE),
    imageId: IMAGE,
    state: 'running',
    health: undefined,
    exitCode: undefined,
    replaces: undefined,
    ...extra,
  };
}

const observed = (containers: ObservedContainer[]): ObservedProject => ({
  project: 'gantry',
  containers,
  networks: [{ key: 'default', name: 'gantry_default', id: 'n' }],
  volumes: [],
});

describe('specs that cannot be true', () => {
  it('container_name with more than one replica names the service and key', () => {
    const problems = impossibleSpecProblems(stack([service('backend', { containerName: 'backend', deploy: { replicas: 3, resources: {} } })]));
    assert.deepEqual(
      problems.map((p) => [p.path.join('.'), p.message]),
      [['services.backend.container_name', 'service backend has container_name backend, so it cannot run 3 replicas: Docker container names are unique (remove container_name to scale it)']],
    );
  });

  it('two services with one container_name, and a container_name taking another service\'s generated name', () => {
    const problems = impossibleSpecProblems(
      stack([service('a', { containerName: 'shared' }), service('b', { containerName: 'shared' }), service('web'), service('z', { containerName: 'gantry-web-1' })]),
    );
    assert.deepEqual(
      problems.map((p) => `${p.path.join('.')}: ${p.message}`),
      [
        'services.b.container_name: container_name shared of service b is also services.a.container_name: Docker container names are unique',
        'services.z.container_name: container_name gantry-web-1 of service z is also the name of a container of service web: Docker container names are unique',
      ],
    );
  });

  it('a possible spec has no problems', () => {
    assert.deepEqual(impossibleSpecProblems(stack([service('a', { containerName: 'a' }), service('web', { deploy: { replicas: 3, resources: {} } })])), []);
  });

  it('the loader names the file and key of a container_name two services share', () => {
    const dir = projectDir({
      'docker-compose.yml': 'services:\n  api:\n    image: x\n    container_name: app\n',
      'docker-compose.override.yml': 'services:\n  worker:\n    image: x\n    container_name: app\n',
    });
    throwsCompose(
      () => loadStack({ files: [path.join(dir, 'docker-compose.yml'), path.join(dir, 'docker-compose.override.yml')], environment: {} }),
      /^docker-compose\.override\.yml: services\.worker\.container_name: container_name app of service worker is also services\.api\.container_name/,
    );
  });

  it('an inline workflow spec that cannot be true is an invalid input naming the path', () => {
    const spec = stack([service('backend', { containerName: 'backend', deploy: { replicas: 2, resources: {} } })]);
    const parsed = DeployInput.safeParse({ spec });
    assert.equal(parsed.success, false);
    assert.match(formatZodError(parsed.error!), /^input\.spec\.services\.backend\.container_name: service backend has container_name backend, so it cannot run 2 replicas/m);
    assert.equal(DeployInput.safeParse({ spec: stack([service('backend', { containerName: 'backend' })]) }).success, true);
  });
});

describe('verify: the host against the spec', () => {
  const spec = stack([service('web', { deploy: { replicas: 2, resources: {} } }), service('db')]);
  const ids = { web: IMAGE, db: IMAGE };

  it('finds nothing when the host holds the spec; one-offs are not replicas', () => {
    const oneOff = container(spec, 'web', 0, { name: 'gantry-web-run-1a2b', oneoff: true, configHash: undefined });
    assert.deepEqual(hostDifferences(spec, ids, observed([container(spec, 'web', 1), container(spec, 'web', 2), container(spec, 'db', 1), oneOff])), []);
  });

  it('names a missing replica, another image and another config hash', () => {
    const differences = hostDifferences(
      spec,
      ids,
      observed([container(spec, 'web', 1, { imageId: 'sha256:bbbbbbbbbbbbbbbb' }), container(spec, 'db', 1, { configHash: 'c0ffee' })]),
    );
    assert.deepEqual(
      differences.map((d) => d.message),
      [
        'service db: gantry-db-1 has config hash c0ffee, the spec\'s is ' + configHash(spec, spec.services.db, IMAGE).slice(0, 12),
        'service web: 1 container(s) on the host (gantry-web-1), the spec says 2 replica(s)',
        'service web: gantry-web-1 runs image bbbbbbbbbbbb, the spec resolves to aaaaaaaaaaaa',
      ],
    );
  });

  it('names a replica that is not running: stopped from outside after the last converge, or never started', () => {
    const differences = hostDifferences(
      spec,
      ids,
      observed([
        container(spec, 'web', 1),
        container(spec, 'web', 2, { state: 'exited', exitCode: 143 }),
        container(spec, 'db', 1, { state: 'created', exitCode: 0 }),
      ]),
    );
    assert.deepEqual(
      differences.map((d) => [d.service, d.message]),
      [
        ['db', 'service db: gantry-db-1 is created (exit code 0), not running'],
        ['web', 'service web: gantry-web-2 is exited (exit code 143), not running'],
      ],
    );
  });

  it('a one-shot job (another service waits for it to complete) may have exited 0, not otherwise', () => {
    const withJob = stack([service('migrate'), service('api', { dependsOn: { migrate: { condition: 'service_completed_successfully', restart: false, required: true } } })]);
    const jobIds = { migrate: IMAGE, api: IMAGE };
    const host = (job: Partial<ObservedContainer>) => observed([container(withJob, 'api', 1), container(withJob, 'migrate', 1, job)]);
    assert.deepEqual(hostDifferences(withJob, jobIds, host({ state: 'exited', exitCode: 0 })), []);
    assert.deepEqual(hostDifferences(withJob, jobIds, host({ state: 'running' })), []);
    assert.deepEqual(
      hostDifferences(withJob, jobIds, host({ state: 'exited', exitCode: 2 })).map((d) => d.message),
      ['service migrate: gantry-migrate-1 is exited (exit code 2), not running or completed'],
    );
  });

  it('a container_name service recorded with 3 replicas while one runs', () => {
    const impossible = stack([service('backend', { containerName: 'backend', deploy: { replicas: 3, resources: {} } })]);
    const one = container(impossible, 'backend', 1, { name: 'backend' });
    assert.deepEqual(
      hostDifferences(impossible, { backend: IMAGE }, observed([one])).map((d) => d.message),
      ['service backend: 1 container(s) on the host (backend), the spec says 3 replica(s)'],
    );
  });
});

describe('take-over of a stack docker compose started', () => {
  const composeLabels = (service: string) => ({
    [Label.project]: 'gantry',
    [Label.service]: service,
    [Label.containerNumber]: '1',
    [Label.oneoff]: 'False',
    [Label.composeConfigHash]: 'f00d',
    [Label.composeVersion]: '1.29.2',
  });

  it('recognises compose containers by their labels only', () => {
    assert.equal(isStartedByCompose(composeLabels('web')), true);
    assert.equal(isStartedByCompose({ ...composeLabels('web'), [Label.oneoff]: 'True' }), false, 'docker compose run');
    assert.equal(isStartedByCompose({ ...composeLabels('web'), 'io.dockflow.config-hash': 'x' }), false, 'dockflow\'s own');
    assert.equal(isStartedByCompose({ ...composeLabels('web'), [Label.managedBy]: 'dockflow' }), false, 'dockflow\'s own');
    assert.equal(isStartedByCompose({ ...composeLabels('web'), 'io.dockflow.base-image': '1' }), true, 'a label inherited from the image is not dockflow\'s');
    assert.equal(isStartedByCompose({ [Label.project]: 'gantry' }), false, 'no compose config hash');
  });

  it('plans v1 (_) and v2 (-) names as replacements "started by docker compose", not leftovers', () => {
    const spec = stack([service('web'), service('db')]);
    const fromCompose = (svc: string, name: string) => container(spec, svc, 1, { name, configHash: 'f00d', startedByCompose: true });
    const plan = planDeploy(spec, observed([fromCompose('web', 'gantry_web_1'), fromCompose('db', 'gantry-db-1')]), { web: IMAGE, db: IMAGE }, { removeOrphans: false });
    assert.equal(
      formatPlan(plan),
      ['recreate container:gantry-db-1 (started by docker compose)', 'recreate container:gantry-web-1 (started by docker compose)'].join('\n'),
    );
    assert.equal(plan.services.find((s) => s.service === 'web')!.operations[0].containerId, 'web1');
  });

  it('a compose container left beside a canonical dockflow one is a leftover', () => {
    const spec = stack([service('web')]);
    const plan = planDeploy(
      spec,
      observed([container(spec, 'web', 1), container(spec, 'web', 1, { id: 'old', name: 'gantry-web-1_dockflow-old-123', configHash: 'f00d', startedByCompose: true })]),
      { web: IMAGE },
      { removeOrphans: false },
    );
    assert.equal(formatPlan(plan), 'remove container:gantry-web-1_dockflow-old-123 (leftover from an interrupted update)');
  });
});
