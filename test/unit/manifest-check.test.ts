/**
 * Manifests are untrusted input: every path, name and ID a restore or
 * retention would act on is checked against the schema, the folder it was
 * read from and the project's spec, and each refusal names the manifest and
 * the key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';
import { archiveFileName } from '../../src/backup/ids';
import { BackupManifest, type ArchiveEntry } from '../../src/backup/manifest';
import { ManifestError, parseManifest, trustedRestoreEntries } from '../../src/backup/manifest-check';
import { selectArchives } from '../../src/backup/plan';
import { serviceSpec } from '../support/spec-builders';

const service = (name: string, volumes: ServiceSpec['volumes']): ServiceSpec => serviceSpec(name, { image: 'dockflow/busybox:1', volumes });

/** db mounts volume db-data (driver options set in the spec) and the external volume shared; app bind-mounts ./data and, read-only, the host's root. */
const spec: StackSpec = {
  project: 'shop',
  workingDir: '/srv/shop',
  composeFiles: ['/srv/shop/docker-compose.yml'],
  services: {
    db: service('db', [
      { type: 'volume', source: 'db-data', target: '/var/lib/db', readOnly: false },
      { type: 'volume', source: 'shared', target: '/shared', readOnly: false },
    ]),
    app: service('app', [
      { type: 'bind', source: '/srv/shop/data', target: '/data', readOnly: false, createHostPath: true },
      { type: 'bind', source: '/', target: '/host', readOnly: true, createHostPath: true },
    ]),
  },
  networks: {},
  volumes: {
    'db-data': { name: 'shop_db-data', external: false, driver: 'local', driverOpts: { type: 'tmpfs', device: 'tmpfs' }, labels: { tier: 'db' } },
    shared: { name: 'shared', external: true, driverOpts: {}, labels: {} },
  },
  extensions: {},
};

const entry = (key: string, kind: 'volume' | 'bind', source: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry => ({
  key,
  kind,
  source,
  services: [],
  archive: archiveFileName(kind, key),
  root: 'dockflow-volume',
  archiveBytes: 10,
  contentBytes: 20,
  sha256: 'a'.repeat(64),
  ...extra,
});

const ID = '20261122-030000-1a2b3c4d';
const LABEL = `manifest shop/${ID}/manifest.json in local directory /backups`;

function manifest(archives: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
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
    ...extra,
  };
}

const parse = (m: Record<string, unknown>, folder = ID) => parseManifest(JSON.stringify(m), { project: 'shop', folder, label: `manifest shop/${folder}/manifest.json in local directory /backups` });
const check = (archives: ArchiveEntry[]) => trustedRestoreEntries(BackupManifest.parse(manifest(archives)), spec, LABEL);
const refused = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ManifestError, `a ManifestError, not ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });

describe('untrusted manifests: schema and place', () => {
  it('accepts what dockflow writes', () => {
    const m = parse(manifest([entry('db-data', 'volume', 'shop_db-data'), entry('./data', 'bind', '/srv/shop/data')]));
    assert.deepEqual(m.archives.map((a) => a.key), ['db-data', './data']);
  });

  it('refuses path traversal in archive names, roots, keys and IDs, naming the file and the key', () => {
    refused(() => parse(manifest([entry('db-data', 'volume', 'shop_db-data', { archive: '../../etc/passwd' })])), new RegExp(`^manifest shop/${ID}/manifest.json in local directory /backups: archives\\[0\\]\\.archive: an archive file name`));
    refused(() => parse(manifest([entry('db-data', 'volume', 'shop_db-data', { archive: 'volume-x.tar.gz/../../y.tar.gz' })])), /archives\[0\]\.archive/);
    refused(() => parse(manifest([{ ...entry('db-data', 'volume', 'shop_db-data'), root: '../..' }])), /archives\[0\]\.root/);
    refused(() => parse(manifest([entry('./data', 'bind', '/srv/shop/../../etc')])), /archives\[0\]\.source: "\/srv\/shop\/\.\.\/\.\.\/etc" is not a normalized absolute directory path/);
    refused(() => parse(manifest([entry('db-data', 'volume', '../shop_db-data')])), /archives\[0\]\.source: "\.\.\/shop_db-data" is not a Docker volume name/);
    refused(() => parse(manifest([]), '../x'), /the folder name "\.\.\/x" is not a backup ID/);
    refused(() => parse(manifest([], { id: '../../20261122-030000-1a2b3c4d' })), /: id: a backup ID/);
  });

  it('refuses "/" and shell metacharacters as sources', () => {
    refused(() => parse(manifest([entry('./data', 'bind', '/')])), /archives\[0\]\.source: "\/" is not a normalized absolute directory path other than "\/"/);
    refused(() => parse(manifest([entry('db-data', 'volume', '$(touch /tmp/x)')])), /archives\[0\]\.source: "\$\(touch \/tmp\/x\)" is not a Docker volume name/);
    refused(() => parse(manifest([entry('./data', 'bind', '$(touch /tmp/x)')])), /archives\[0\]\.source: "\$\(touch \/tmp\/x\)" is not a normalized absolute/);
    refused(() => parse(manifest([entry('db-data', 'volume', 'shop_db-data', { images: ['busybox;rm -rf /'] })])), /archives\[0\]\.images\[0\]: an image reference/);
    refused(() => parse(manifest([entry('db\n-data', 'volume', 'shop_db-data')])), /archives\[0\]\.key: a data set key must not contain control characters/);
  });

  it('refuses a manifest whose id is not its folder, or whose project is another', () => {
    refused(() => parse(manifest([]), '20261122-040000-00000000'), /manifest shop\/20261122-040000-00000000\/manifest.json in local directory \/backups: id: "20261122-030000-1a2b3c4d" is not the name of the folder it is in \(20261122-040000-00000000\)/);
    refused(() => parse(manifest([], { project: 'blog' })), /: project: "blog" is not the project it is filed under \(shop\)/);
  });

  it('refuses unknown keys, duplicates and non-JSON', () => {
    refused(() => parse(manifest([], { extra: 1 })), /\(top level\): Unrecognized key/);
    refused(() => parse(manifest([entry('db-data', 'volume', 'shop_db-data'), entry('db-data', 'volume', 'shop_db-data')])), /archives\[1\]\.key: "db-data" appears twice/);
    assert.throws(() => parseManifest('{', { project: 'shop', folder: ID, label: LABEL }), /is not valid JSON/);
  });
});

describe('untrusted manifests: data sets against the spec', () => {
  it('takes paths from the spec and the volume definition from the spec, not the manifest', () => {
    const untrustedVolume = { driver: 'local', labels: {}, options: { type: 'none', o: 'bind', device: '/etc' } };
    const [db, data] = check([entry('db-data', 'volume', 'shop_db-data', { volume: untrustedVolume }), entry('./data', 'bind', '/srv/shop/data')]);
    assert.equal(db.source, 'shop_db-data');
    assert.deepEqual(db.volume, {
      driver: 'local',
      options: { type: 'tmpfs', device: 'tmpfs' },
      labels: { tier: 'db', 'com.docker.compose.project': 'shop', 'com.docker.compose.volume': 'db-data', 'io.dockflow.managed-by': 'dockflow' },
    });
    assert.equal(data.source, '/srv/shop/data');
    assert.equal(data.archive, archiveFileName('bind', './data'));
  });

  it('an external volume is restored into but never created from the manifest', () => {
    const [shared] = check([entry('shared', 'volume', 'shared', { volume: { driver: 'local', labels: {}, options: { device: '/' } } })]);
    assert.equal(shared.volume, undefined);
  });

  it('refuses a data set the spec does not have, or one pointed elsewhere', () => {
    refused(() => check([entry('/etc', 'bind', '/etc')]), new RegExp(`^${LABEL}: archives\\[0\\]\\.key: "/etc" is not a data set of project shop \\(volumes: db-data, shared; bind mounts: \\./data, /\\)$`));
    refused(() => check([entry('db-data', 'volume', 'other_db-data')]), /archives\[0\]\.source: "other_db-data" is not the source of data set db-data of project shop \("shop_db-data"\)/);
    refused(() => check([entry('./data', 'bind', '/srv/other/data')]), /archives\[0\]\.source: "\/srv\/other\/data" is not the source of data set \.\/data/);
    refused(() => check([entry('db-data', 'bind', '/srv/shop/db-data', { archive: archiveFileName('volume', 'db-data') })]), /archives\[0\]\.kind: "bind" is not the kind of data set db-data/);
    refused(() => check([{ ...entry('db-data', 'volume', 'shop_db-data'), archive: 'volume-other.tar.gz' }]), /archives\[0\]\.archive: "volume-other\.tar\.gz" is not the archive of data set db-data/);
    refused(() => check([entry('./data', 'bind', '/srv/shop/data'), entry('$(touch /tmp/x)', 'volume', 'shop_db-data', { archive: 'volume-x.tar.gz' })]), /archives\[1\]\.key: "\$\(touch \/tmp\/x\)" is not a data set of project shop/);
  });

  it('refuses "/" even when the spec mounts it', () => {
    // The spec's app mounts / read-only: `--volume /` could back it up, but nothing restores over the host's root.
    const root = { ...entry('/', 'bind', '/srv/x'), source: '/' } as ArchiveEntry;
    refused(() => trustedRestoreEntries({ ...(BackupManifest.parse(manifest([])) as BackupManifest), archives: [root] }, spec, LABEL), /archives\[0\]\.source: restoring over "\/" is refused/);
  });

  it('checks every data set, also those not chosen', () => {
    const m = BackupManifest.parse(manifest([entry('db-data', 'volume', 'shop_db-data'), entry('db-x', 'volume', 'shop_db-x')]));
    refused(() => trustedRestoreEntries(m, spec, LABEL, selectArchives(m, ['db-data'])), /archives\[1\]\.key: "db-x" is not a data set/);
  });
});
