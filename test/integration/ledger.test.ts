/**
 * The revision ledger's activities on their own, against the real Docker
 * engine (image tags) and a real state directory: retention, image
 * protection and idempotent recording.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLedgerActivities } from '../../activities/ledger';
import type { StackSpec } from '../../src/model/spec';
import { dockerOrFail, TEST_IMAGE } from '../support/harness';
import { ensureBaseImage } from '../../src/demo/base-image';

const spec: StackSpec = {
  project: 'itledger',
  workingDir: '/srv/itledger',
  composeFiles: [],
  networks: {},
  volumes: {},
  extensions: {},
  services: {
    web: {
      name: 'web', image: TEST_IMAGE, pullPolicy: 'missing', environment: {}, ports: [], expose: [], volumes: [], tmpfs: [], networks: {}, dependsOn: {},
      restart: 'no', profiles: [], labels: {}, readOnly: false, capAdd: [], capDrop: [], securityOpt: [], deploy: { replicas: 1, resources: {} }, extraHosts: [], extensions: {},
    },
  },
};

describe('revision ledger', () => {
  it('keeps the last N revisions, protects their images with tags, and records once per workflow', async () => {
    const docker = await dockerOrFail();
    const imageId = await ensureBaseImage(docker);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-ledger-'));
    const ledger = createLedgerActivities({ docker, stateDir, keep: 2 });
    const record = (workflowId: string) =>
      ledger.recordRevision({ project: 'itledger', operation: 'deploy', workflowId, spec, imageIds: { web: imageId }, changed: ['web'] });

    const first = await record('wf-1');
    assert.equal(first.number, 1);
    assert.equal((await record('wf-1')).number, 1, 'a retried recording returns the same revision');
    assert.equal((await docker.getImage('dockflow-revision/itledger-web:r1').inspect()).Id, imageId);
    await record('wf-2');
    await record('wf-3');

    const kept = await ledger.listRevisions('itledger');
    assert.deepEqual(kept.map((r) => r.number), [2, 3]);
    assert.deepEqual(fs.readdirSync(path.join(stateDir, 'projects', 'itledger', 'revisions')).sort(), ['000002.json', '000003.json']);
    await assert.rejects(docker.getImage('dockflow-revision/itledger-web:r1').inspect(), 'the dropped revision\'s tag is released');
    assert.equal((await docker.getImage(imageId).inspect()).Id, imageId, 'the image itself stays');
    assert.equal((await ledger.getRevision({ project: 'itledger' }))?.number, 3);
    await ledger.linkToRevision({ project: 'itledger', number: 3, kind: 'backups', id: 'backup-1' });
    await ledger.linkToRevision({ project: 'itledger', number: 3, kind: 'backups', id: 'backup-1' });
    assert.deepEqual((await ledger.getRevision({ project: 'itledger', number: 3 }))?.links.backups, ['backup-1']);

    for (const n of [2, 3]) await docker.getImage(`dockflow-revision/itledger-web:r${n}`).remove({ noprune: true });
  });

  it('keeps revision files (the whole spec, secrets included) 0600 in 0700 directories, narrowing what an older version left wider', async () => {
    const docker = await dockerOrFail();
    const imageId = await ensureBaseImage(docker);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-ledger-'));
    // An older version created the projects directory world-readable.
    fs.mkdirSync(path.join(stateDir, 'projects'), { mode: 0o755 });
    fs.chmodSync(path.join(stateDir, 'projects'), 0o755);
    const ledger = createLedgerActivities({ docker, stateDir, keep: 2 });
    const secretSpec: StackSpec = { ...spec, services: { web: { ...spec.services.web, environment: { DB_PASSWORD: 'pw-ledger' } } } };
    const previousUmask = process.umask(0);
    try {
      await ledger.recordRevision({ project: 'itledger', operation: 'deploy', workflowId: 'wf-modes', spec: secretSpec, imageIds: { web: imageId }, changed: ['web'] });
      await ledger.linkToRevision({ project: 'itledger', number: 1, kind: 'backups', id: 'backup-1' });
    } finally {
      process.umask(previousUmask);
    }
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
    const revisions = path.join(stateDir, 'projects', 'itledger', 'revisions');
    for (const dir of [path.join(stateDir, 'projects'), path.join(stateDir, 'projects', 'itledger'), revisions]) assert.equal(mode(dir), '700', dir);
    assert.deepEqual(fs.readdirSync(revisions), ['000001.json']);
    assert.equal(mode(path.join(revisions, '000001.json')), '600');
    assert.match(fs.readFileSync(path.join(revisions, '000001.json'), 'utf8'), /pw-ledger/, 'the file checked is the one holding the secret');
    await docker.getImage('dockflow-revision/itledger-web:r1').remove({ noprune: true });
  });
});
