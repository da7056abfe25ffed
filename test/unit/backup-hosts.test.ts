import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostOfDataSet } from '../../src/backup/hosts';
import { BackupPlanError } from '../../src/backup/plan';

describe('hostOfDataSet', () => {
  const hostOf = { db: 'host-2', api: 'host-2', web: 'host-1' };

  it('is the host that runs the services mounting the data set', () => {
    assert.equal(hostOfDataSet('shop', { kind: 'volume', key: 'data', services: ['api', 'db'] }, hostOf), 'host-2');
  });

  it('refuses a volume mounted by services on different hosts, naming the volume and where each service runs', () => {
    assert.throws(
      () => hostOfDataSet('shop', { kind: 'volume', key: 'shared', services: ['db', 'web'] }, hostOf),
      (err: unknown) => err instanceof BackupPlanError && /volume shared is mounted by services on different hosts \(db on host-2, web on host-1\)/.test(err.message),
    );
  });

  it('leaves out a declared volume no service mounts when it was not named, and refuses it when it was', () => {
    assert.equal(hostOfDataSet('shop', { kind: 'volume', key: 'spare', services: [], optional: true }, hostOf), undefined);
    assert.throws(() => hostOfDataSet('shop', { kind: 'volume', key: 'spare', services: [] }, hostOf), /project shop: volume spare is mounted by no service, so no host holds it/);
  });
});
