/**
 * Host copies: a spread service's data sets are held on each of its hosts
 * (src/backup/hosts.ts). The pure parts: which hosts hold a data set, the
 * backup split into one data set per host copy (workflows/backup-share.ts),
 * the manifest's entries per copy, and the restore's refusals.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { archiveFileName, hostCopyFileName } from '../../src/backup/ids';
import { BackupManifest, summarizeManifest, type ArchiveEntry } from '../../src/backup/manifest';
import { ManifestError, parseManifest, refuseHostCopies, trustedRestoreEntries } from '../../src/backup/manifest-check';
import { BackupPlanError, dataSets, planBackup, selectArchives } from '../../src/backup/plan';
import { HostCopiesError, hostsOfDataSet, restoreHostsOf, spreadMigrationRefusal, type DataPlacement } from '../../src/backup/hosts';
import { shares, type AcrossHosts } from '../../workflows/backup-share';
import type { DataRoute } from '../../workflows/data-route';
import { serviceSpec } from '../support/spec-builders';

const service = (name: string, volumes: ServiceSpec['volumes'], replicas = 1): ServiceSpec =>
  serviceSpec(name, { image: 'dockflow/busybox:1', volumes, deploy: { replicas, resources: {} }, ...(name === 'web' ? { labels: { 'docker-volume-backup.stop-during-backup': 'true' } } : {}) });

/** web (3 replicas spread over host-1 and host-2) mounts cache; db (host-3) mounts db-data; worker (host-1) shares cache with web. */
const spec: StackSpec = {
  project: 'shop',
  workingDir: '/srv/shop',
  composeFiles: ['/srv/shop/docker-compose.yml'],
  services: {
    web: service('web', [{ type: 'volume', source: 'cache', target: '/cache', readOnly: false }], 3),
    db: service('db', [{ type: 'volume', source: 'db-data', target: '/var/lib/db', readOnly: false }]),
  },
  networks: {},
  volumes: {
    cache: { name: 'shop_cache', external: false, driverOpts: {}, labels: {} },
    'db-data': { name: 'shop_db-data', external: false, driverOpts: {}, labels: {} },
  },
  extensions: {},
};

const PLACED: DataPlacement = { hostOf: { web: 'host-1', db: 'host-3' }, spreadOver: { web: ['host-1', 'host-2'] } };
const ID = '20261122-030000-1a2b3c4d';

const entry = (key: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry => ({
  key,
  kind: 'volume',
  source: `shop_${key}`,
  services: key === 'cache' ? ['web'] : ['db'],
  archive: extra.hostCopy ? hostCopyFileName('volume', key, extra.host!) : archiveFileName('volume', key),
  root: 'dockflow-volume',
  archiveBytes: 10,
  contentBytes: 20,
  sha256: 'a'.repeat(64),
  ...extra,
});
const copy = (key: string, host: string) => entry(key, { host, hostCopy: true });

function manifest(archives: ArchiveEntry[]): BackupManifest {
  return BackupManifest.parse({
    format: 1,
    id: ID,
    project: 'shop',
    reason: 'manual',
    workflowId: 'backup-shop-1',
    createdAt: '2026-11-22T03:00:00.000Z',
    completedAt: '2026-11-22T03:00:10.000Z',
    verifiedAt: '2026-11-22T03:00:11.000Z',
    archives,
    stopped: [],
    hooks: [],
    warnings: [],
  });
}

const known = dataSets(spec);
const hostsFor = (entries: ArchiveEntry[], placement: DataPlacement = PLACED) => restoreHostsOf('shop', ID, entries, placement, (key) => known.get(key));

describe('host copies: which hosts hold a data set', () => {
  it('names the host in a copy\'s archive file, in the shape manifests allow', () => {
    assert.equal(hostCopyFileName('volume', 'cache', 'host-2'), 'volume-cache.on-host-2.tar.gz');
    assert.match(hostCopyFileName('bind', './data', 'host-1'), /^bind-data-[0-9a-f]{6}\.on-host-1\.tar\.gz$/);
  });

  it('is each host of a spread service that mounts it, one host otherwise (as before)', () => {
    assert.deepEqual(hostsOfDataSet('shop', { kind: 'volume', key: 'cache', services: ['web'] }, PLACED), ['host-1', 'host-2']);
    assert.deepEqual(hostsOfDataSet('shop', { kind: 'volume', key: 'db-data', services: ['db'] }, PLACED), ['host-3']);
    // Without spreadOver (a run recorded before host copies): replica 1's host alone.
    assert.deepEqual(hostsOfDataSet('shop', { kind: 'volume', key: 'cache', services: ['web'] }, { hostOf: PLACED.hostOf }), ['host-1']);
    // Shared with a service on a third host: a copy there too.
    assert.deepEqual(hostsOfDataSet('shop', { kind: 'volume', key: 'cache', services: ['web', 'db'] }, PLACED), ['host-1', 'host-2', 'host-3']);
    assert.deepEqual(hostsOfDataSet('shop', { kind: 'volume', key: 'spare', services: [], optional: true }, PLACED), []);
  });

  it('still refuses a volume shared by two unspread services on different hosts', () => {
    assert.throws(() => hostsOfDataSet('shop', { kind: 'volume', key: 'x', services: ['db', 'web'] }, { hostOf: PLACED.hostOf }), BackupPlanError);
  });
});

describe('host copies: the backup split by host', () => {
  const routeOf = (host: string) => ({ name: host }) as unknown as DataRoute;
  const across: AcrossHosts = {
    routeOf,
    hostsOfTarget: (t) => hostsOfDataSet('shop', t, PLACED),
    ledgerHosts: [],
    manifestHosts: [],
  };

  it('takes each host\'s copy as a data set of its own, its archive naming the host, and stops only that host\'s users', () => {
    const parts = shares(planBackup(spec), across);
    assert.deepEqual(
      parts.map((p) => [p.route.name, p.plan.targets.map((t) => [t.key, t.archive, t.hostCopy ?? false]), p.plan.stop.map((s) => s.service)]),
      [
        ['host-1', [['cache', 'volume-cache.on-host-1.tar.gz', true]], ['web']],
        ['host-2', [['cache', 'volume-cache.on-host-2.tar.gz', true]], ['web']],
        ['host-3', [['db-data', 'volume-db-data.tar.gz', false]], []],
      ],
    );
  });

  it('keeps a stack without spread data exactly as before: one data set on one host', () => {
    const parts = shares(planBackup(spec), { ...across, hostsOfTarget: (t) => hostsOfDataSet('shop', t, { hostOf: PLACED.hostOf }) });
    assert.deepEqual(
      parts.map((p) => [p.route.name, p.plan.targets.map((t) => [t.archive, t.hostCopy ?? false])]),
      [
        ['host-1', [['volume-cache.tar.gz', false]]],
        ['host-3', [['volume-db-data.tar.gz', false]]],
      ],
    );
  });
});

describe('host copies in the manifest', () => {
  it('holds one entry per host copy, each checked to name its own host in its archive', () => {
    const m = manifest([copy('cache', 'host-1'), copy('cache', 'host-2'), entry('db-data', { host: 'host-3' })]);
    const trusted = trustedRestoreEntries(m, spec, 'm');
    assert.deepEqual(
      trusted.map((e) => [e.key, e.host, e.archive, e.hostCopy ?? false]),
      [
        ['cache', 'host-1', 'volume-cache.on-host-1.tar.gz', true],
        ['cache', 'host-2', 'volume-cache.on-host-2.tar.gz', true],
        ['db-data', 'host-3', 'volume-db-data.tar.gz', false],
      ],
    );
    const swapped = manifest([{ ...copy('cache', 'host-1'), archive: 'volume-cache.on-host-2.tar.gz' }]);
    assert.throws(() => trustedRestoreEntries(swapped, spec, 'm'), (err: unknown) => err instanceof ManifestError && /archives\[0\]\.archive: "volume-cache\.on-host-2\.tar\.gz" is not the archive of data set cache/.test(err.message));
  });

  it('refuses two copies from one host, a copy without its host, and a data set held both ways', () => {
    const parse = (archives: unknown[]) =>
      parseManifest(JSON.stringify({ ...manifest([]), archives }), { project: 'shop', folder: ID, label: 'm' });
    assert.throws(() => parse([copy('cache', 'host-1'), { ...copy('cache', 'host-1'), archive: 'volume-cache.on-host-x.tar.gz' }]), /archives\[1\]\.key: "cache on host-1" appears twice/);
    const { host: _h, ...hostless } = copy('cache', 'host-1');
    assert.throws(() => parse([hostless]), /archives\[0\]\.host: a host copy names its host/);
    assert.throws(() => parse([entry('cache'), copy('cache', 'host-2')]), /archives\[0\]\.hostCopy: "cache" has host copies and an entry that is not one/);
  });

  it('is listed by `dockflow backups` with each copy\'s host', () => {
    const m = manifest([copy('cache', 'host-1'), copy('cache', 'host-2'), entry('db-data', { host: 'host-3' })]);
    assert.deepEqual(summarizeManifest(m).archives.map((a) => [a.key, a.host]), [['cache', 'host-1'], ['cache', 'host-2'], ['db-data', undefined]]);
  });

  it('restores every copy of a data set named with --volume, and each entry once', () => {
    const m = manifest([copy('cache', 'host-1'), copy('cache', 'host-2'), entry('db-data', { host: 'host-3' })]);
    assert.deepEqual(selectArchives(m, ['cache']).map((e) => e.archive), ['volume-cache.on-host-1.tar.gz', 'volume-cache.on-host-2.tar.gz']);
    assert.deepEqual(selectArchives(m, ['cache', 'shop_cache', 'db-data']).map((e) => e.archive), ['volume-cache.on-host-1.tar.gz', 'volume-cache.on-host-2.tar.gz', 'volume-db-data.tar.gz']);
  });

  it('is refused by a restore on one host, naming the data set and the hosts', () => {
    assert.throws(() => refuseHostCopies([entry('db-data'), copy('cache', 'host-1'), copy('cache', 'host-2')], 'manifest of backup X'), /^Error: manifest of backup X: volume cache is held as one copy per host \(host-1, host-2\): restore it across hosts/);
    assert.doesNotThrow(() => refuseHostCopies([entry('db-data'), entry('cache')], 'm'));
  });
});

describe('host copies: where a restore puts each entry back', () => {
  const refusal = (pattern: RegExp) => (err: unknown) => err instanceof HostCopiesError && pattern.test(err.message);

  it('puts each copy back on the host it came from', () => {
    assert.deepEqual(hostsFor([copy('cache', 'host-2'), copy('cache', 'host-1'), entry('db-data', { host: 'host-3' })]), ['host-2', 'host-1', 'host-3']);
  });

  it('refuses a copy missing, naming the service, the volume and both lists of hosts', () => {
    assert.throws(
      () => hostsFor([copy('cache', 'host-1')]),
      refusal(/^restore of shop refused before anything was touched: backup 20261122-030000-1a2b3c4d holds volume cache of service web as copies on host-1, but it is now held on host-1, host-2 \(one copy per host that runs web\): the backup has no copy from host-2\. /),
    );
  });

  it('refuses copies of a service that moved, or no longer spreads', () => {
    const moved: DataPlacement = { hostOf: PLACED.hostOf, spreadOver: { web: ['host-1', 'host-3'] } };
    assert.throws(() => hostsFor([copy('cache', 'host-1'), copy('cache', 'host-2')], moved), refusal(/holds volume cache of service web as copies on host-1, host-2, but it is now held on host-1, host-3 \(.*\): the backup has no copy from host-3; host-2 no longer holds it\./));
    assert.throws(() => hostsFor([copy('cache', 'host-1'), copy('cache', 'host-2')], { hostOf: PLACED.hostOf }), refusal(/as copies on host-1, host-2, but it is now held on host-1 \(.*\): host-2 no longer holds it; web no longer spreads\./));
  });

  it('restores an older manifest (one entry per data set) as before, and refuses one whose data set spreads now', () => {
    const placedOnOne: DataPlacement = { hostOf: PLACED.hostOf };
    assert.deepEqual(hostsFor([entry('cache', { host: 'host-1' }), entry('db-data')], placedOnOne), ['host-1', 'host-3']);
    assert.deepEqual(hostsFor([entry('db-data')]), ['host-3']);
    assert.throws(() => hostsFor([entry('cache', { host: 'host-1' })]), refusal(/holds volume cache of service web as a single copy taken on host-1, but it is now held on host-1, host-2 \(.*\): the backup has no copy from host-2\./));
  });
});

describe('host copies: migrate', () => {
  it('refuses a migration of a service that mounts a spread data set, naming the service, the volume and the hosts', () => {
    assert.match(spreadMigrationRefusal(spec, PLACED, 'web') ?? '', /^service web mounts volume cache, which is held as one copy per host \(host-1, host-2, where web spreads\)/);
    assert.equal(spreadMigrationRefusal(spec, PLACED, 'db'), undefined);
    assert.equal(spreadMigrationRefusal(spec, { hostOf: PLACED.hostOf }, 'web'), undefined);
  });
});
