/**
 * A real PostgreSQL 15 (the test bed's dockflow-local/postgres:15, built
 * from Debian's packages by scripts/images/build.sh) instead of a busybox
 * stand-in, where the database's own behaviour is the point:
 *
 * - a backup taken while a client keeps committing: with a `pg_dump` pre
 *   hook, and with `stop: true` (the volume archived while the server is
 *   stopped). Each restores to a consistent database: every row committed
 *   before the backup began is there with the same checksum, and the
 *   invariant every transaction keeps (one `orders` row per `ledger` row)
 *   holds.
 * - a migration running real SQL while its worker is SIGKILLed runs once:
 *   `schema_migrations` has exactly one row (the SQL has no guard against a
 *   second run, so a double run would show).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import type { BackupResult } from '../../workflows/backup';
import { execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-real-postgres';
const POSTGRES_IMAGE = 'dockflow-local/postgres:15';
const HOOKED = 'itpghook';
const STOPPED = 'itpgstop';
const MIGRATED = 'itpgmigrate';

let seq = 0;
const wfId = (name: string) => `it-pg-${name}-${Date.now()}-${++seq}`;

function composeFile(backup: string): string {
  return `
services:
  db:
    image: ${POSTGRES_IMAGE}
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: secret
      POSTGRES_DB: shop
    volumes:
      - db-data:/var/lib/postgresql/data
      - ./dumps:/dumps
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-d", "shop"]
      interval: 1s
      timeout: 5s
      retries: 60
    x-dockflow:
      backup:
${backup}
volumes:
  db-data: {}
`;
}

const SCHEMA = `
CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL);
CREATE TABLE ledger (order_id bigint PRIMARY KEY REFERENCES orders(id), amount bigint NOT NULL);
`;

/** One transaction keeps the invariant: an order and its ledger row, or neither. */
const insertSql = (id: number) => `BEGIN; INSERT INTO orders VALUES (${id}, 'order ${id}'); INSERT INTO ledger VALUES (${id}, ${id * 7}); COMMIT;`;

async function psql(bed: TestBed, container: string, sql: string): Promise<string> {
  const out = await execIn(bed.docker, container, ['psql', '-U', 'app', '-d', 'shop', '-v', 'ON_ERROR_STOP=1', '-tAq', '-c', sql]);
  // execIn reports output, not the exit code: psql's own error lines tell.
  if (/^(ERROR|FATAL|psql:)/m.test(out)) throw new Error(`psql in ${container} failed: ${out.trim()}\n${sql}`);
  return out.trim();
}

/** Row counts and a checksum over every order up to `maxId`, and whether the per-transaction invariant holds. */
async function snapshot(bed: TestBed, container: string, maxId: number): Promise<{ orders: number; checksum: string; consistent: boolean; total: number }> {
  const out = await psql(
    bed,
    container,
    `SELECT (SELECT count(*) FROM orders WHERE id <= ${maxId}) || '|' ||
            (SELECT coalesce(md5(string_agg(o.id || ':' || o.note || ':' || l.amount, ',' ORDER BY o.id)), '') FROM orders o JOIN ledger l ON l.order_id = o.id WHERE o.id <= ${maxId}) || '|' ||
            ((SELECT count(*) FROM orders) = (SELECT count(*) FROM ledger) AND NOT EXISTS (SELECT 1 FROM orders o LEFT JOIN ledger l ON l.order_id = o.id WHERE l.order_id IS NULL)) || '|' ||
            (SELECT count(*) FROM orders)`,
  );
  const [orders, checksum, consistent, total] = out.split('|');
  if (total === undefined || Number.isNaN(Number(orders))) throw new Error(`unexpected psql output: ${out}`);
  // A boolean concatenated to text reads 'true' or 'false'.
  return { orders: Number(orders), checksum, consistent: consistent === 'true', total: Number(total) };
}

/**
 * Commits one order transaction after another until stopped; each commit
 * that psql reports is counted. While the server is stopped for a backup
 * the attempts fail, and the writer keeps trying, as an application would.
 */
function startWriter(bed: TestBed, container: string, firstId: number): { stop: () => Promise<number> } {
  let next = firstId;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        await psql(bed, container, insertSql(next));
        next += 1;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return next - 1;
    },
  };
}

async function waitHealthy(bed: TestBed, container: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = (await bed.docker.getContainer(container).inspect()).State;
    if (state.Health?.Status === 'healthy') return;
    if (Date.now() > deadline) throw new Error(`${container} not healthy within ${timeoutMs} ms: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a real PostgreSQL: backups under writes, a migration under a worker kill', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  const children: ChildProcess[] = [];

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await bed.docker.getImage(POSTGRES_IMAGE).inspect().catch(() => {
      throw new Error(`${POSTGRES_IMAGE} is missing: run bash scripts/testbed.sh images`);
    });
    for (const p of [HOOKED, STOPPED, MIGRATED]) await removeProject(bed.docker, p);
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    for (const p of [HOOKED, STOPPED, MIGRATED]) await removeProject(bed.docker, p);
    await bed?.teardown();
  });

  async function deployStack(project: string, backup: string): Promise<{ dir: string; db: string }> {
    const dir = projectDir(project, { 'docker-compose.yml': composeFile(backup), 'dumps/.keep': '' });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId(`deploy-${project}`), args: [{ spec }] });
    const db = `${project}-db-1`;
    await waitHealthy(bed, db);
    await psql(bed, db, SCHEMA);
    return { dir, db };
  }

  /**
   * Writes before and during a backup, then damages the database, restores,
   * and returns the snapshot of what was committed before the backup began
   * and of the restored database.
   */
  async function backupUnderWrites(project: string, db: string, restoreAndLoad: (backupId: string) => Promise<void>) {
    // The first 200 orders in one transaction, the same rows insertSql writes one by one.
    await psql(bed, db, "BEGIN; INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 200) g; INSERT INTO ledger SELECT g, g * 7 FROM generate_series(1, 200) g; COMMIT;");
    const before = await snapshot(bed, db, 200);
    assert.equal(before.orders, 200);
    const writer = startWriter(bed, db, 201);
    const backup = (await bed.env.client.workflow.execute('backup', { taskQueue: TASK_QUEUE, workflowId: wfId(`backup-${project}`), args: [{ project }] })) as BackupResult;
    const lastWritten = await writer.stop();
    await waitHealthy(bed, db);
    // Damage: what a bad migration or an operator's mistake does.
    await psql(bed, db, 'DELETE FROM ledger WHERE order_id % 2 = 0; DELETE FROM orders WHERE id % 2 = 0;');
    assert.equal((await snapshot(bed, db, 200)).orders, 100);
    await restoreAndLoad(backup.backupId);
    await waitHealthy(bed, db);
    const restored = await snapshot(bed, db, 200);
    return { before, restored, lastWritten };
  }

  it('pg_dump as a pre hook: the restored dump holds every row committed before the backup, consistently', { timeout: 600_000 }, async () => {
    const { dir, db } = await deployStack(HOOKED, '        pre: ["pg_dump -U app -d shop --clean --if-exists -f /dumps/shop.sql"]');
    const { before, restored, lastWritten } = await backupUnderWrites(HOOKED, db, async (backupId) => {
      fs.rmSync(path.join(dir, 'dumps', 'shop.sql'), { force: true });
      await bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore-hook'), args: [{ project: HOOKED, backupId, volumes: ['./dumps'] }] });
      // The dump came back from the archive; loading it is the operator's step, as with compose.
      assert.ok(fs.existsSync(path.join(dir, 'dumps', 'shop.sql')), 'the restore brought the dump back');
      const loaded = await execIn(bed.docker, db, ['psql', '-U', 'app', '-d', 'shop', '-v', 'ON_ERROR_STOP=1', '-q', '-f', '/dumps/shop.sql']);
      assert.doesNotMatch(loaded, /ERROR/);
    });
    assert.ok(lastWritten > 200, `the writer committed during the backup (last id ${lastWritten})`);
    assert.equal(restored.orders, before.orders);
    assert.equal(restored.checksum, before.checksum);
    assert.ok(restored.consistent, 'every order has its ledger row after the restore');
    assert.ok(restored.total >= 200 && restored.total <= lastWritten, `restored ${restored.total} orders, between 200 and ${lastWritten}`);
  });

  it('stop: true: the volume archived while the server is stopped restores to a consistent database', { timeout: 600_000 }, async () => {
    const { db } = await deployStack(STOPPED, '        stop: true');
    const { before, restored, lastWritten } = await backupUnderWrites(STOPPED, db, async (backupId) => {
      await bed.env.client.workflow.execute('restore', { taskQueue: TASK_QUEUE, workflowId: wfId('restore-stop'), args: [{ project: STOPPED, backupId, volumes: ['db-data'] }] });
    });
    assert.ok(lastWritten > 200, `the writer committed around the backup (last id ${lastWritten})`);
    assert.equal(restored.orders, before.orders);
    assert.equal(restored.checksum, before.checksum);
    assert.ok(restored.consistent, 'every order has its ledger row after the restore');
    assert.ok(restored.total >= 200 && restored.total <= lastWritten);
  });

  it('a migration of real SQL runs once although its worker is SIGKILLed while it runs', { timeout: 600_000 }, async () => {
    const { db } = await deployStack(MIGRATED, '        pre: ["pg_dump -U app -d shop --clean --if-exists -f /dumps/shop.sql"]');
    await psql(bed, db, 'CREATE TABLE schema_migrations (version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    // The in-process worker would keep the task queue: this test needs a worker it can SIGKILL.
    await stopWorker?.();
    stopWorker = undefined;

    const worker = await spawnWorker(bed);
    children.push(worker);
    // No guard against a second run: run twice, and two rows show it.
    const sql = "BEGIN; INSERT INTO schema_migrations (version) VALUES ('0042_add_index'); SELECT pg_sleep(4); CREATE INDEX orders_note ON orders (note); COMMIT;";
    const workflowId = wfId('migrate');
    const handle = await bed.env.client.workflow.start('migrate', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ project: MIGRATED, service: 'db', command: ['sh', '-c', `PGPASSWORD=secret psql -h db -U app -d shop -v ON_ERROR_STOP=1 -c "${sql}"`] }],
    });
    // Kill the worker once the migration's one-off container runs.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const oneOffs = await bed.docker.listContainers({ filters: { label: [`com.docker.compose.project=${MIGRATED}`], status: ['running'] } });
      if (oneOffs.some((c) => !c.Names[0].endsWith('-db-1'))) break;
      if (Date.now() > deadline) throw new Error('the migration container never ran');
      await new Promise((r) => setTimeout(r, 100));
    }
    await killHard(worker);
    const replacement = await spawnWorker(bed);
    children.push(replacement);
    await handle.result();
    assert.equal(await psql(bed, db, 'SELECT count(*) FROM schema_migrations'), '1');
    assert.equal(await psql(bed, db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_note'"), '1');
    await killHard(replacement);
  });
});
