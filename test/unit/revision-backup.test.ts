/**
 * Which backup holds a revision's data (src/backup/revision-backup.ts): what
 * `rollback --to N --with-data` restores and `history` shows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backupForRevision, backupsOfRevision, type BackupCandidate, type RevisionRef } from '../../src/backup/revision-backup';
import { RollbackInput, HistoryInput, formatZodError } from '../../src/model/input';

const rev = (number: number, createdAt: string, migrations: string[] = []): RevisionRef => ({ number, createdAt, links: { migrations } });
const backup = (id: string, reason: BackupCandidate['reason'], revision: number | undefined, at: string, workflowId = `wf-${id}`): BackupCandidate => ({
  id,
  reason,
  workflowId,
  ...(revision !== undefined ? { revision } : {}),
  createdAt: at,
  verifiedAt: at,
});

describe('the backup of a revision\'s data', () => {
  const r1 = rev(1, '2026-11-30T10:00:00.000Z', ['migrate-shop-a', 'migrate-shop-b']);

  it('is the pre-migration backup of the first migration that succeeded while the revision was current', () => {
    const backups = [
      backup('20261130-100500-aaaaaaaa', 'manual', 1, '2026-11-30T10:05:00.000Z'),
      backup('20261130-101000-bbbbbbbb', 'migrate', 1, '2026-11-30T10:10:00.000Z', 'migrate-shop-failed'),
      backup('20261130-102000-cccccccc', 'migrate', 1, '2026-11-30T10:20:00.000Z', 'migrate-shop-a'),
      backup('20261130-103000-dddddddd', 'migrate', 1, '2026-11-30T10:30:00.000Z', 'migrate-shop-b'),
      backup('20261130-104000-eeeeeeee', 'scheduled', 1, '2026-11-30T10:40:00.000Z'),
    ];
    // The failed migration's backup was restored by it, so the data changed only with migrate-shop-a.
    assert.equal(backupForRevision(r1, backups)?.id, '20261130-102000-cccccccc');
    // Listing order does not matter.
    assert.equal(backupForRevision(r1, [...backups].reverse())?.id, '20261130-102000-cccccccc');
  });

  it('is the newest backup of the revision when no migration ran (the next deploy followed)', () => {
    const r2 = rev(2, '2026-11-30T11:00:00.000Z');
    const backups = [
      backup('20261130-110500-aaaaaaaa', 'scheduled', 2, '2026-11-30T11:05:00.000Z'),
      backup('20261130-111500-bbbbbbbb', 'rollback', 2, '2026-11-30T11:15:00.000Z'),
      backup('20261130-111000-cccccccc', 'manual', 2, '2026-11-30T11:10:00.000Z'),
      backup('20261130-120000-dddddddd', 'manual', 3, '2026-11-30T12:00:00.000Z'),
    ];
    assert.equal(backupForRevision(r2, backups)?.id, '20261130-111500-bbbbbbbb');
    assert.deepEqual(backupsOfRevision(r2, backups).map((b) => b.id), ['20261130-110500-aaaaaaaa', '20261130-111000-cccccccc', '20261130-111500-bbbbbbbb']);
  });

  it('never matches a manifest without a revision (taken before the first deploy), even by time', () => {
    const backups = [backup('20261130-100500-aaaaaaaa', 'manual', undefined, '2026-11-30T10:05:00.000Z')];
    assert.equal(backupForRevision(r1, backups), undefined);
  });

  it('leaves out a backup verified before the revision was recorded (an earlier ledger that counted from 1 too)', () => {
    const backups = [backup('20261101-100500-aaaaaaaa', 'manual', 1, '2026-11-01T10:05:00.000Z')];
    assert.equal(backupForRevision(r1, backups), undefined);
    // A backup that waited for the lock started before the revision was recorded but was verified after it.
    const waited = { ...backup('20261130-095900-bbbbbbbb', 'manual', 1, '2026-11-30T09:59:00.000Z'), verifiedAt: '2026-11-30T10:01:00.000Z' };
    assert.equal(backupForRevision(r1, [waited])?.id, '20261130-095900-bbbbbbbb');
  });

  it('is undefined for a revision without backups', () => {
    assert.equal(backupForRevision(rev(4, '2026-11-30T13:00:00.000Z'), [backup('20261130-100500-aaaaaaaa', 'manual', 1, '2026-11-30T10:05:00.000Z')]), undefined);
  });
});

describe('rollback and history inputs', () => {
  it('takes withData and a destination for the backups', () => {
    const parsed = RollbackInput.parse({ project: 'shop', to: 1, withData: true, destination: '/srv/backups' });
    assert.equal(parsed.withData, true);
    assert.equal(parsed.destination, '/srv/backups');
    assert.equal(RollbackInput.parse({ project: 'shop' }).withData, false);
    assert.equal(HistoryInput.parse({ project: 'shop', destination: '/srv/backups' }).destination, '/srv/backups');
  });

  it('refuses a destination without withData, naming the path', () => {
    const r = RollbackInput.safeParse({ project: 'shop', to: 1, destination: '/srv/backups' });
    assert.equal(r.success, false);
    assert.equal(formatZodError(r.error!), 'input.destination: "destination" is only used with "withData": true');
    const typo = RollbackInput.safeParse({ project: 'shop', withdata: true });
    assert.equal(typo.success, false);
    assert.match(formatZodError(typo.error!), /withdata/);
  });
});
