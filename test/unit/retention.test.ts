/**
 * Retention by age tiers (restic's --keep-last/daily/weekly/monthly): tables
 * of backup times → which backups are kept, and why.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRetention, isoWeek, selectForPruning, type RetainedBackup, type RetentionPolicy } from '../../src/backup/retention';

const NOW = Date.parse('2026-11-30T12:00:00Z');

/** One backup per time; IDs are the times' short form, so a table reads as a calendar. */
function backups(...times: string[]): RetainedBackup[] {
  return times.map((t) => ({ id: t, createdAt: `${t}:00Z`, verified: true }));
}

/** Kept IDs (newest first) with their reasons, for a readable comparison. */
function kept(list: RetainedBackup[], policy: RetentionPolicy, protect: string[] = []): Record<string, string> {
  return Object.fromEntries(
    decideRetention(list, policy, NOW, protect)
      .filter((d) => d.keep)
      .map((d) => [d.id, d.reasons.join(', ')]),
  );
}

describe('retention tiers', () => {
  // Two backups a day on some days, gaps on others.
  const calendar = backups(
    '2026-09-15T03:00', // September
    '2026-10-01T03:00',
    '2026-10-31T03:00', // October's newest
    '2026-11-09T03:00', // Monday, W46
    '2026-11-15T03:00', // Sunday, W46's newest
    '2026-11-23T03:00', // Monday, W48
    '2026-11-28T03:00',
    '2026-11-28T15:00', // Saturday's newest
    '2026-11-30T03:00',
    '2026-11-30T09:00', // today's newest
  );

  const table: { name: string; policy: RetentionPolicy; expected: Record<string, string> }[] = [
    {
      name: 'keepLast 3: the three newest',
      policy: { keepLast: 3 },
      expected: { '2026-11-30T09:00': 'last 3, newest verified', '2026-11-30T03:00': 'last 3', '2026-11-28T15:00': 'last 3' },
    },
    {
      name: 'keepDaily 3: the newest of each of the 3 latest days with backups (days without any are skipped)',
      policy: { keepDaily: 3 },
      expected: { '2026-11-30T09:00': 'daily 2026-11-30, newest verified', '2026-11-28T15:00': 'daily 2026-11-28', '2026-11-23T03:00': 'daily 2026-11-23' },
    },
    {
      name: 'keepWeekly 3: ISO weeks W49, W48, W46 (W47 had none)',
      policy: { keepWeekly: 3 },
      expected: { '2026-11-30T09:00': 'weekly 2026-W49, newest verified', '2026-11-28T15:00': 'weekly 2026-W48', '2026-11-15T03:00': 'weekly 2026-W46' },
    },
    {
      name: 'keepMonthly 3: the newest of November, October, September',
      policy: { keepMonthly: 3 },
      expected: { '2026-11-30T09:00': 'monthly 2026-11, newest verified', '2026-10-31T03:00': 'monthly 2026-10', '2026-09-15T03:00': 'monthly 2026-09' },
    },
    {
      name: 'tiers combine: a backup any rule keeps survives, with every reason',
      policy: { keepLast: 1, keepDaily: 2, keepMonthly: 2 },
      expected: {
        '2026-11-30T09:00': 'last 1, daily 2026-11-30, monthly 2026-11, newest verified',
        '2026-11-28T15:00': 'daily 2026-11-28',
        '2026-10-31T03:00': 'monthly 2026-10',
      },
    },
    {
      name: 'more periods asked than exist: everything that is the newest of its period',
      policy: { keepMonthly: 12 },
      expected: { '2026-11-30T09:00': 'monthly 2026-11, newest verified', '2026-10-31T03:00': 'monthly 2026-10', '2026-09-15T03:00': 'monthly 2026-09' },
    },
    {
      name: 'keepDays with a tier',
      policy: { keepDays: 2, keepWeekly: 1 },
      expected: {
        '2026-11-30T09:00': 'weekly 2026-W49, within 2 days, newest verified',
        '2026-11-30T03:00': 'within 2 days',
        '2026-11-28T15:00': 'within 2 days',
      },
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      assert.deepEqual(kept(calendar, row.policy), row.expected);
    });
  }

  it('input order does not matter (the same decision for a shuffled listing)', () => {
    const shuffled = [...calendar].reverse();
    assert.deepEqual(kept(shuffled, { keepDaily: 2, keepWeekly: 2 }), kept(calendar, { keepDaily: 2, keepWeekly: 2 }));
  });

  it('the newest verified backup and the one just taken survive any rule', () => {
    const list = [...backups('2026-01-01T00:00', '2026-02-01T00:00'), { id: 'unverified', createdAt: '2026-11-30T11:00:00Z', verified: false }];
    assert.deepEqual(kept(list, { keepDaily: 1 }, ['2026-01-01T00:00']), {
      unverified: 'daily 2026-11-30',
      '2026-02-01T00:00': 'newest verified',
      '2026-01-01T00:00': 'just taken',
    });
  });

  it('no rule keeps everything; selectForPruning splits by the same decision', () => {
    assert.deepEqual(selectForPruning(calendar, {}, NOW).remove, []);
    const { keep, remove } = selectForPruning(calendar, { keepWeekly: 2 }, NOW);
    assert.deepEqual(keep, ['2026-11-30T09:00', '2026-11-28T15:00']);
    assert.equal(remove.length, calendar.length - 2);
  });

  it('ISO weeks at year boundaries', () => {
    const cases: [string, string][] = [
      ['2026-11-30T00:00:00Z', '2026-W49'], // Monday
      ['2026-11-29T23:59:59Z', '2026-W48'], // Sunday
      ['2027-01-01T12:00:00Z', '2026-W53'], // Friday: 2026 has 53 weeks
      ['2024-12-30T00:00:00Z', '2025-W01'], // Monday of the week holding 2 January 2025
      ['2021-01-03T00:00:00Z', '2020-W53'],
      ['2021-01-04T00:00:00Z', '2021-W01'],
    ];
    for (const [time, week] of cases) assert.equal(isoWeek(Date.parse(time)), week, time);
  });
});
