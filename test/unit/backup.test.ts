/**
 * The pure side of backups: names, settings, what a backup covers, which
 * archives a restore takes, container order, retention, the manifest, output
 * cursors and the workflow inputs. Specs are built by hand so each test shows
 * exactly the compose shape it is about.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MountSpec, ServiceSpec, StackSpec } from '../../src/model/spec';
import { archiveFileName, backupIdFor, BACKUP_ID_PATTERN, helperName, oneOffName, partialSuffix, shortHash } from '../../src/backup/ids';
import { serviceBackupSettings } from '../../src/backup/settings';
import { BackupPlanError, bindKey, helperImages, mountsTarget, planBackup, selectArchives, startOrder, type DataContainer } from '../../src/backup/plan';
import { selectForPruning } from '../../src/backup/retention';
import { BackupManifest, sha256sums, summarizeManifest, type ArchiveEntry } from '../../src/backup/manifest';
import { after, cursorOf, isOutputStep, outputStepTitle, parseCursor, shellQuote, splitTimestamp, tailLines } from '../../src/backup/output';
import { BackupInput, MigrateInput, RestoreInput } from '../../src/model/backup-input';
import { serviceSpec } from '../support/spec-builders';

const service = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => serviceSpec(name, { image: 'dockflow/busybox:1', ...extra });

const vol = (source: string, target: string, readOnly = false): MountSpec => ({ type: 'volume', source, target, readOnly });
const bind = (source: string, target: string, readOnly = false): MountSpec => ({ type: 'bind', source, target, readOnly, createHostPath: true });
const dep = { condition: 'service_started' as const, restart: false, required: true };

function stack(services: ServiceSpec[], volumes: string[] = [], external: string[] = []): StackSpec {
  return {
    project: 'shop',
    workingDir: '/srv/shop',
    composeFiles: ['/srv/shop/docker-compose.yml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: { default: { name: 'shop_default', external: false, driverOpts: {}, internal: false, labels: {} } },
    volumes: Object.fromEntries([
      ...volumes.map((v) => [v, { name: `shop_${v}`, external: false, driverOpts: {}, labels: {} }]),
      ...external.map((v) => [v, { name: v, external: true, driverOpts: {}, labels: {} }]),
    ]),
    extensions: {},
  };
}

/** db (volume db-data, stop via x-dockflow, hooks), app (./data rw, offen label, depends on db), web (./conf ro, ~/.ssh), cache (tmpfs, anonymous). */
function shop(): StackSpec {
  return stack(
    [
      service('db', {
        volumes: [vol('db-data', '/var/lib/db'), vol('shared', '/shared')],
        extensions: {
          'x-dockflow': {
            backup: {
              stop: true,
              pre: ['pg_dump -f /var/lib/db/dump.sql app', { command: ['sync'], timeout: '30s', on_error: 'continue' }],
              post: [['rm', '-f', '/var/lib/db/dump.sql']],
            },
          },
        },
      }),
      service('app', {
        volumes: [bind('/srv/shop/data', '/app/data')],
        dependsOn: { db: dep },
        labels: { 'docker-volume-backup.stop-during-backup': 'true', 'docker-volume-backup.archive-pre': 'echo flushed > /app/data/flush' },
      }),
      service('web', { volumes: [bind('/srv/shop/conf', '/etc/web', true), bind('/root/.ssh', '/root/.ssh', true)], dependsOn: { app: dep } }),
      service('cache', { volumes: [{ type: 'volume', target: '/anon', readOnly: false }, { type: 'tmpfs', target: '/tmp', readOnly: false }] }),
    ],
    ['db-data', 'unused'],
    ['shared'],
  );
}

describe('backup names', () => {
  it('derives a sortable backup ID from the workflow start time and a hash of its ID', () => {
    const id = backupIdFor(new Date('2026-11-22T03:00:05.123Z'), 'backup-shop-20261122-030005-123');
    assert.match(id, /^20261122-030005-[0-9a-f]{8}$/);
    assert.match(id, BACKUP_ID_PATTERN);
    assert.equal(backupIdFor(new Date('2026-11-22T03:00:05.999Z'), 'backup-shop-20261122-030005-123'), id, 'same workflow, same ID');
    assert.notEqual(backupIdFor(new Date('2026-11-22T03:00:05Z'), 'backup-shop-other'), id, 'another workflow in the same second differs');
  });

  it('names one-off and helper containers after the workflow, and keeps names Docker-safe', () => {
    assert.equal(shortHash('abc'), shortHash('abc'));
    assert.match(oneOffName('shop', 'api', 'run', 'migrate-shop-1'), /^shop-api-run-[0-9a-f]{8}$/);
    assert.notEqual(oneOffName('shop', 'api', 'run', 'w1'), oneOffName('shop', 'api', 'dryrun', 'w1'));
    assert.match(helperName('shop', 'backup', 'w1', './data'), /^shop-dockflow-backup-[0-9a-f]{8}-[0-9a-f]{8}$/);
    assert.equal(partialSuffix('backup-shop/x y'), '.partial-backup-shop-x-y');
    assert.equal(archiveFileName('volume', 'db-data'), 'volume-db-data.tar.gz');
    assert.match(archiveFileName('bind', './data/sqlite'), /^bind-sqlite-[0-9a-f]{6}\.tar\.gz$/);
    assert.notEqual(archiveFileName('bind', './a/data'), archiveFileName('bind', './b/data'), 'binds ending in the same name get distinct files');
  });
});

describe('backup settings of a service', () => {
  it('reads stop and hooks from x-dockflow: strings through /bin/sh -c, lists as argv, objects with timeout and on_error', () => {
    const s = serviceBackupSettings(shop().services.db);
    assert.equal(s.stop, true);
    assert.equal(s.stopOrigin, 'services.db.x-dockflow.backup.stop');
    assert.deepEqual(s.pre.map((h) => [h.command, h.timeoutMs, h.onError, h.origin]), [
      [['/bin/sh', '-c', 'pg_dump -f /var/lib/db/dump.sql app'], 300_000, 'abort', 'services.db.x-dockflow.backup.pre[0]'],
      [['sync'], 30_000, 'continue', 'services.db.x-dockflow.backup.pre[1]'],
    ]);
    assert.deepEqual(s.post.map((h) => h.command), [['rm', '-f', '/var/lib/db/dump.sql']]);
  });

  it('honours offen/docker-volume-backup labels, and an explicit stop: false over the label', () => {
    const app = serviceBackupSettings(shop().services.app);
    assert.equal(app.stop, true);
    assert.equal(app.stopOrigin, 'services.app.labels.docker-volume-backup.stop-during-backup');
    assert.deepEqual(app.pre.map((h) => h.command), [['/bin/sh', '-c', 'echo flushed > /app/data/flush']]);
    const overridden = service('x', { labels: { 'docker-volume-backup.stop-during-backup': 'true' }, extensions: { 'x-dockflow': { backup: { stop: false } } } });
    assert.equal(serviceBackupSettings(overridden).stop, false);
    assert.equal(serviceBackupSettings(service('y', { labels: { 'docker-volume-backup.stop-during-backup': 'false' } })).stop, false);
  });

  it('rejects unknown keys and bad durations naming the compose path', () => {
    const typo = service('db', { extensions: { 'x-dockflow': { backup: { stpo: true } } } });
    assert.throws(() => serviceBackupSettings(typo), /services\.db\.x-dockflow\.backup: .*stpo/);
    const badTimeout = service('db', { extensions: { 'x-dockflow': { backup: { pre: [{ command: 'x', timeout: 'soon' }] } } } });
    assert.throws(() => serviceBackupSettings(badTimeout), /services\.db\.x-dockflow\.backup\.pre\[0\]\.timeout: invalid duration "soon"/);
    const badPolicy = service('db', { extensions: { 'x-dockflow': { backup: { post: [{ command: 'x', on_error: 'ignore' }] } } } });
    assert.throws(() => serviceBackupSettings(badPolicy), /services\.db\.x-dockflow\.backup\.post\[0\]\.on_error/);
  });
});

describe('what a backup covers', () => {
  it('by default: the project\'s named volumes and read-write bind directories inside the project, nothing external, anonymous or outside', () => {
    const plan = planBackup(shop());
    assert.deepEqual(
      plan.targets.map((t) => [t.kind, t.key, t.source, t.services, t.optional]),
      [
        ['volume', 'db-data', 'shop_db-data', ['db'], true],
        ['volume', 'unused', 'shop_unused', [], true],
        ['bind', './data', '/srv/shop/data', ['app'], true],
      ],
    );
    // Dependants stop first; both marks count (x-dockflow on db, offen's label on app).
    assert.deepEqual(plan.stop.map((s) => s.service), ['app', 'db']);
    assert.deepEqual(plan.pre.map((h) => h.service), ['db', 'db', 'app'], 'hooks in dependency order');
  });

  it('--service takes the service\'s volumes, external ones included; --volume takes exactly what is named', () => {
    const byService = planBackup(shop(), { services: ['db'] });
    assert.deepEqual(byService.targets.map((t) => t.key), ['db-data', 'shared']);
    assert.deepEqual(byService.stop.map((s) => s.service), ['db'], 'app does not touch db-data: it keeps running');
    assert.deepEqual(byService.pre.map((h) => h.service), ['db', 'db']);

    const byVolume = planBackup(shop(), { volumes: ['shop_db-data', './conf', '/root/.ssh/', 'data'] });
    assert.deepEqual(byVolume.targets.map((t) => [t.key, t.optional]), [['db-data', false], ['./conf', false], ['./data', false], ['/root/.ssh', false]]);
    assert.deepEqual(byVolume.stop.map((s) => s.service), ['app', 'db']);
  });

  it('names the project and what exists when a volume or service is unknown', () => {
    assert.throws(
      () => planBackup(shop(), { volumes: ['dbdata'] }),
      (err: Error) =>
        err instanceof BackupPlanError &&
        err.message === 'project shop has no volume or bind mount "dbdata" (volumes: db-data, shared, unused; bind mounts: ./conf, ./data, /root/.ssh)',
    );
    assert.throws(() => planBackup(shop(), { services: ['api'] }), /^Error: project shop has no service api \(services: app, cache, db, web\)$/);
  });

  it('fails on a bad x-dockflow anywhere, even on a service whose data is not chosen', () => {
    const spec = shop();
    spec.services.web.extensions = { 'x-dockflow': { backup: { stop: 'yes' } } };
    assert.throws(() => planBackup(spec, { services: ['db'] }), /project shop: services\.web\.x-dockflow\.backup\.stop/);
  });

  it('has nothing to do for a stack without data', () => {
    assert.deepEqual(planBackup(stack([service('web')])).targets, []);
  });

  it('keys bind mounts relative to the project directory', () => {
    assert.equal(bindKey('/srv/shop', '/srv/shop/data/'), './data');
    assert.equal(bindKey('/srv/shop/', '/srv/shop/a/../b'), './b');
    assert.equal(bindKey('/srv/shop', '/srv/shopping'), '/srv/shopping');
    assert.equal(bindKey('/srv/shop', '/srv/shop'), '.');
  });
});

const entry = (key: string, kind: 'volume' | 'bind', source: string): ArchiveEntry => ({
  key,
  kind,
  source,
  services: [],
  archive: archiveFileName(kind, key),
  root: 'dockflow-volume',
  archiveBytes: 10,
  contentBytes: 20,
  sha256: 'a'.repeat(64),
});

describe('what a restore takes from a backup', () => {
  const manifest = { project: 'shop', id: '20261122-030000-1a2b3c4d', archives: [entry('db-data', 'volume', 'shop_db-data'), entry('./data', 'bind', '/srv/shop/data')] };

  it('takes all by default, or those named by key, source, file or bind path', () => {
    assert.deepEqual(selectArchives(manifest).map((a) => a.key), ['db-data', './data']);
    assert.deepEqual(selectArchives(manifest, ['shop_db-data']).map((a) => a.key), ['db-data']);
    assert.deepEqual(selectArchives(manifest, ['data/']).map((a) => a.key), ['./data']);
    assert.deepEqual(selectArchives(manifest, ['/srv/shop/data']).map((a) => a.key), ['./data']);
    assert.deepEqual(selectArchives(manifest, [archiveFileName('volume', 'db-data')]).map((a) => a.key), ['db-data']);
  });

  it('names the backup, the project and what it holds when asked for something else', () => {
    assert.throws(() => selectArchives(manifest, ['cache']), /^Error: backup 20261122-030000-1a2b3c4d of project shop has no data set "cache" \(it holds: db-data, \.\/data\)$/);
  });
});

function container(name: string, service: string, extra: Partial<DataContainer> = {}): DataContainer {
  return { id: `id-${name}`, name, service, number: 1, oneoff: false, running: true, imageId: `img-${service}`, hasHealthcheck: false, dependsOn: [], mounts: [], ...extra };
}

describe('containers around a backup or restore', () => {
  it('orders containers so dependencies start first (reversed: dependants stop first)', () => {
    const order = startOrder([container('s-web-1', 'web', { dependsOn: ['app'] }), container('s-app-2', 'app', { dependsOn: ['db'] }), container('s-app-1', 'app', { dependsOn: ['db'] }), container('s-db-1', 'db')]);
    assert.deepEqual(order.map((c) => c.name), ['s-db-1', 's-app-1', 's-app-2', 's-web-1']);
  });

  it('matches mounts by volume name and by normalised host path', () => {
    const c = container('a', 'app', { mounts: [{ type: 'volume', name: 'shop_db', source: '/var/lib/docker/volumes/shop_db/_data', destination: '/d', rw: true }, { type: 'bind', source: '/srv/shop/data', destination: '/x', rw: true }] });
    assert.ok(mountsTarget(c, { kind: 'volume', source: 'shop_db' }));
    assert.ok(mountsTarget(c, { kind: 'bind', source: '/srv/shop/./data/' }));
    assert.ok(!mountsTarget(c, { kind: 'bind', source: 'shop_db' }));
  });

  it('prefers the image of a running container that mounts the data set for helpers', () => {
    const users = [
      container('db-old', 'db', { running: false, imageId: 'img-stopped', mounts: [{ type: 'volume', name: 'v', source: '', destination: '/d', rw: true }] }),
      container('db-1', 'db', { imageId: 'img-running', mounts: [{ type: 'volume', name: 'v', source: '', destination: '/d', rw: true }] }),
      container('web-1', 'web', { imageId: 'img-web' }),
    ];
    assert.deepEqual(helperImages({ kind: 'volume', source: 'v', services: ['db'] }, users, shop()), ['img-running', 'img-stopped', 'dockflow/busybox:1', 'img-web']);
  });
});

describe('retention', () => {
  const day = 86_400_000;
  const now = Date.parse('2026-11-22T00:00:00Z');
  const at = (daysAgo: number) => new Date(now - daysAgo * day).toISOString();
  const backups = [
    { id: 'b1', createdAt: at(10), verified: true },
    { id: 'b2', createdAt: at(5), verified: true },
    { id: 'b3', createdAt: at(2), verified: true },
    { id: 'b4', createdAt: at(1), verified: true },
  ];

  it('keeps everything without a rule', () => {
    assert.deepEqual(selectForPruning(backups, {}, now).remove, []);
  });

  it('keeps the N newest', () => {
    assert.deepEqual(selectForPruning(backups, { keepLast: 2 }, now), { keep: ['b4', 'b3'], remove: ['b2', 'b1'] });
  });

  it('keeps those younger than D days, and with both rules whatever either keeps', () => {
    assert.deepEqual(selectForPruning(backups, { keepDays: 3 }, now).remove, ['b2', 'b1']);
    assert.deepEqual(selectForPruning(backups, { keepDays: 6, keepLast: 1 }, now).remove, ['b1']);
  });

  it('never deletes the newest verified backup, nor a protected one', () => {
    const old = backups.map((b) => ({ ...b, createdAt: at(110 - Number(b.id.slice(1))) }));
    assert.deepEqual(selectForPruning(old, { keepDays: 1 }, now).keep, ['b4'], 'all too old: the newest verified stays');
    const newestUnverified = [...backups, { id: 'b5', createdAt: at(0), verified: false }];
    assert.deepEqual(selectForPruning(newestUnverified, { keepLast: 1 }, now).keep, ['b5', 'b4'], 'an unverified newest does not count as the safe copy');
    assert.deepEqual(selectForPruning(backups, { keepLast: 1 }, now, ['b1']).keep, ['b4', 'b1']);
  });
});

describe('the manifest', () => {
  const manifest: BackupManifest = {
    format: 1,
    id: '20261122-030000-1a2b3c4d',
    project: 'shop',
    reason: 'manual',
    workflowId: 'backup-shop-1',
    revision: 3,
    createdAt: '2026-11-22T03:00:00.000Z',
    completedAt: '2026-11-22T03:00:10.000Z',
    verifiedAt: '2026-11-22T03:00:11.000Z',
    archives: [entry('db-data', 'volume', 'shop_db-data'), { ...entry('./data', 'bind', '/srv/shop/data'), sha256: 'b'.repeat(64), archiveBytes: 5 }],
    stopped: ['shop-db-1'],
    hooks: [{ service: 'db', phase: 'pre', command: ['sync'], container: 'shop-db-1', exitCode: 0, outcome: 'ok' }],
    warnings: [],
  };

  it('validates, lists for sha256sum -c, and summarises', () => {
    assert.deepEqual(BackupManifest.parse(JSON.parse(JSON.stringify(manifest))), manifest);
    assert.equal(sha256sums(manifest), `${'a'.repeat(64)}  volume-db-data.tar.gz\n${'b'.repeat(64)}  ${manifest.archives[1].archive}\n`);
    assert.equal(summarizeManifest(manifest).totalBytes, 15);
    assert.ok(!BackupManifest.safeParse({ ...manifest, archives: [{ ...manifest.archives[0], sha256: 'xyz' }] }).success);
  });
});

describe('container output as progress', () => {
  it('parses Docker timestamps to a cursor that orders lines, nanoseconds included', () => {
    const a = splitTimestamp('2026-11-22T03:00:00.5Z first line');
    const b = splitTimestamp('2026-11-22T03:00:00.123456789Z second');
    assert.deepEqual(a, { at: [Date.parse('2026-11-22T03:00:00Z') / 1000, 500_000_000], text: 'first line' });
    assert.equal(b!.text, 'second');
    assert.ok(after(a!.at, b!.at));
    assert.equal(cursorOf(b!.at), `${Date.parse('2026-11-22T03:00:00Z') / 1000}.123456789`);
    assert.deepEqual(parseCursor(cursorOf(b!.at)), b!.at);
    assert.equal(splitTimestamp('no timestamp'), undefined);
  });

  it('marks output steps so the CLI prints them as plain lines', () => {
    assert.ok(isOutputStep(outputStepTitle('shop-api-run-1a2b3c4d', 'migrating 1/3')));
    assert.ok(!isOutputStep('archive volume db-data'));
    assert.equal(tailLines('a\nb\nc\n\n', 2), 'b\nc');
    assert.equal(shellQuote(['sh', '-c', "echo it's $(date)", 'a=b']), `sh -c 'echo it'\\''s $(date)' a=b`);
  });
});

describe('workflow inputs', () => {
  it('defaults a backup to everything, manual, for real (not a dry run), without waiting for the lock', () => {
    assert.deepEqual(BackupInput.parse({ project: 'shop' }), { project: 'shop', volumes: [], services: [], encrypt: false, dryRun: false, reason: 'manual', waitForLock: false });
    assert.equal(RestoreInput.parse({ project: 'shop', backupId: '20261122-030000-1a2b3c4d' }).dryRun, false);
  });

  it('rejects what could escape the destination or contradict itself', () => {
    assert.ok(!BackupInput.safeParse({ project: '../etc' }).success, 'project names become directories');
    assert.ok(!BackupInput.safeParse({ project: 'shop', composeFiles: ['/a.yml'], spec: shop() }).success);
    assert.ok(!BackupInput.safeParse({ project: 'other', spec: shop() }).success);
    assert.ok(!BackupInput.safeParse({ project: 'shop', keepLast: 0 }).success);
    assert.ok(!BackupInput.safeParse({ project: 'shop', keepDaily: 0 }).success);
    // Credentials in an s3:// destination would be stored in Temporal's history: refused before the workflow starts.
    const withKeys = BackupInput.safeParse({ project: 'shop', destination: 's3://AKIAX:secret@bucket/prefix' });
    assert.ok(!withKeys.success && /credentials never go in the destination/.test(withKeys.error.issues[0].message));
    assert.ok(!RestoreInput.safeParse({ project: 'shop', backupId: '20261122-030000-1a2b3c4d', destination: 's3://bucket/../x' }).success);
    assert.ok(BackupInput.safeParse({ project: 'shop', destination: 's3://bucket/site-a', keepWeekly: 4 }).success);
    assert.ok(!RestoreInput.safeParse({ project: 'shop', backupId: '../../x' }).success);
    assert.ok(RestoreInput.safeParse({ project: 'shop', backupId: '20261122-030000-1a2b3c4d' }).success);
    assert.ok(!MigrateInput.safeParse({ project: 'shop', service: 'api', command: [] }).success);
    assert.equal(MigrateInput.parse({ project: 'shop', service: 'api', command: ['true'] }).restart, false);
  });
});
