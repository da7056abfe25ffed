import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rolloutBatches, rolloutSettings } from '../../src/plan/rollout';
import { publishesFixedHostPort, serviceExtension } from '../../src/model/extensions';
import { describeChange, revisionImageTag, type Revision } from '../../src/model/revision';
import type { ServiceSpec } from '../../src/model/spec';

describe('rolloutSettings', () => {
  it('uses compose defaults, then update_config, then command-line overrides', () => {
    assert.deepEqual(rolloutSettings(undefined), { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stop-first' });
    const fromFile = rolloutSettings({ parallelism: 2, order: 'start-first', monitorMs: 5000, failureAction: 'rollback' });
    assert.deepEqual(fromFile, { parallelism: 2, delayMs: 0, failureAction: 'rollback', monitorMs: 5000, maxFailureRatio: 0, order: 'start-first' });
    assert.equal(rolloutSettings({ parallelism: 2 }, { parallelism: 3 }).parallelism, 3);
  });
});

describe('rolloutBatches', () => {
  it('batches by parallelism; 0 means everything at once', () => {
    assert.deepEqual(rolloutBatches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(rolloutBatches([1, 2, 3], 0), [[1, 2, 3]]);
    assert.deepEqual(rolloutBatches([], 1), []);
  });
});

const svc = (extra: Partial<ServiceSpec>): ServiceSpec => ({
  name: 'web', image: 'web:1', pullPolicy: 'missing', environment: {}, ports: [], expose: [], volumes: [], tmpfs: [], networks: {}, dependsOn: {}, restart: 'no',
  profiles: [], labels: {}, readOnly: false, capAdd: [], capDrop: [], securityOpt: [], deploy: { replicas: 1, resources: {} }, extraHosts: [], extensions: {}, ...extra,
});

describe('x-dockflow on a service', () => {
  it('reads after_replace and update settings', () => {
    const ext = serviceExtension(svc({ extensions: { 'x-dockflow': { after_replace: [{ service: 'nginx', signal: 'SIGHUP' }], update: { allow_stop_first: true } } } }));
    assert.deepEqual(ext.after_replace, [{ service: 'nginx', signal: 'SIGHUP' }]);
    assert.equal(ext.update?.allow_stop_first, true);
  });
  it('rejects a key it does not know, naming the service and key', () => {
    assert.throws(() => serviceExtension(svc({ extensions: { 'x-dockflow': { after_replce: [] } } })), /services\.web\.x-dockflow/);
  });
  it('knows when a fixed host port forbids two containers at once', () => {
    assert.equal(publishesFixedHostPort(svc({ ports: [{ target: 80, protocol: 'tcp' }] })), false);
    assert.equal(publishesFixedHostPort(svc({ ports: [{ target: 80, published: '8080', hostIp: '127.0.0.1', protocol: 'tcp' }] })), true);
  });
});

describe('revisions', () => {
  const spec = (replicas: number) => ({ project: 'shop', workingDir: '/', composeFiles: [], networks: {}, volumes: {}, extensions: {}, services: { web: svc({ deploy: { replicas, resources: {} } }) } });
  const rev = (number: number, id: string, replicas = 1, changed = ['web']): Revision => ({
    project: 'shop', number, createdAt: '2026-11-22T12:00:00Z', operation: 'deploy', workflowId: `w${number}`, spec: spec(replicas),
    images: { web: { ref: `web:${number}`, id } }, changed, links: { backups: [], migrations: [] },
  });
  it('says what changed between two revisions', () => {
    assert.deepEqual(describeChange(undefined, rev(1, 'sha256:aaaaaaaaaaaaaaaa')), ['web: web:1 (aaaaaaaaaaaa)']);
    assert.deepEqual(describeChange(rev(1, 'sha256:aaaaaaaaaaaaaaaa'), rev(2, 'sha256:bbbbbbbbbbbbbbbb')), ['web: web:1 (aaaaaaaaaaaa) -> web:2 (bbbbbbbbbbbb)']);
    assert.deepEqual(describeChange(rev(1, 'sha256:a'), rev(2, 'sha256:a', 3)), ['web: configuration changed', 'web: replicas 1 -> 3']);
  });
  it('tags revision images under a name Docker accepts', () => {
    assert.deepEqual(revisionImageTag('My_Shop', 'web.api', 7), { repo: 'dockflow-revision/my_shop-web.api', tag: 'r7' });
  });
});
