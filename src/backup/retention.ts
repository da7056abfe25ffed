/**
 * Retention: which complete backups of a project to delete. Pure, so the
 * workflow decides (deterministically) and an activity only deletes. Every
 * destination (local directory, S3) gets the same decision.
 *
 * Rules, with restic's meaning (`restic forget --keep-*`), each applied to
 * the backups newest first; a backup is kept when any rule keeps it (rules
 * widen, never narrow, what survives):
 *
 * - keepLast N: the N newest backups;
 * - keepDaily / keepWeekly / keepMonthly N: for each of the N most recent
 *   days / ISO weeks / months that have backups, the newest backup of that
 *   period (periods in UTC; days, weeks or months without a backup do not
 *   count);
 * - keepDays D: every backup younger than D days.
 *
 * Without any rule nothing is deleted. The newest verified backup is never
 * deleted, whatever the rules say, and neither is any backup in `protect`
 * (the one just taken).
 */

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepDays?: number;
}

export interface RetainedBackup {
  id: string;
  /** ISO time. */
  createdAt: string;
  verified: boolean;
}

export interface RetentionDecision {
  id: string;
  createdAt: string;
  keep: boolean;
  /** Why it is kept, e.g. "last 2", "daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11"; empty when removed. */
  reasons: string[];
}

export interface PruneSelection {
  keep: string[];
  remove: string[];
}

const DAY_MS = 86_400_000;

/** The retention rules of a workflow input (backup, migrate), only those it sets. */
export function retentionOf(input: RetentionPolicy): RetentionPolicy {
  const policy: RetentionPolicy = {};
  for (const rule of ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepDays'] as const) if (input[rule] !== undefined) policy[rule] = input[rule];
  return policy;
}

export function hasRetentionRule(policy: RetentionPolicy): boolean {
  return [policy.keepLast, policy.keepDaily, policy.keepWeekly, policy.keepMonthly, policy.keepDays].some((n) => n !== undefined);
}

/** `2026-W47`: the ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday), in UTC. */
export function isoWeek(ms: number): string {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7; // Monday 0 ... Sunday 6
  // The Thursday of this week decides the week's year.
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY_MS));
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const PERIODS: { rule: 'keepDaily' | 'keepWeekly' | 'keepMonthly'; name: string; of: (ms: number) => string }[] = [
  { rule: 'keepDaily', name: 'daily', of: (ms) => new Date(ms).toISOString().slice(0, 10) },
  { rule: 'keepWeekly', name: 'weekly', of: isoWeek },
  { rule: 'keepMonthly', name: 'monthly', of: (ms) => new Date(ms).toISOString().slice(0, 7) },
];

/** Every backup, newest first, with whether it is kept and why. */
export function decideRetention(backups: RetainedBackup[], policy: RetentionPolicy, nowMs: number, protect: string[] = []): RetentionDecision[] {
  const newestFirst = [...backups].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id));
  if (!hasRetentionRule(policy)) return newestFirst.map((b) => ({ id: b.id, createdAt: b.createdAt, keep: true, reasons: ['no retention rule'] }));
  const newestVerified = newestFirst.find((b) => b.verified)?.id;
  const left = new Map(PERIODS.map((p) => [p.rule, policy[p.rule] ?? 0]));
  const lastPeriod = new Map<string, string>();
  return newestFirst.map((b, index) => {
    const at = Date.parse(b.createdAt);
    const reasons: string[] = [];
    if (policy.keepLast !== undefined && index < policy.keepLast) reasons.push(`last ${policy.keepLast}`);
    for (const p of PERIODS) {
      if ((left.get(p.rule) ?? 0) <= 0) continue;
      const period = p.of(at);
      // Newest first: the first backup seen in a period is that period's newest.
      if (lastPeriod.get(p.rule) === period) continue;
      lastPeriod.set(p.rule, period);
      left.set(p.rule, left.get(p.rule)! - 1);
      reasons.push(`${p.name} ${period}`);
    }
    if (policy.keepDays !== undefined && nowMs - at <= policy.keepDays * DAY_MS) reasons.push(`within ${policy.keepDays} days`);
    if (b.id === newestVerified) reasons.push('newest verified');
    if (protect.includes(b.id)) reasons.push('just taken');
    return { id: b.id, createdAt: b.createdAt, keep: reasons.length > 0, reasons };
  });
}

export function selectForPruning(backups: RetainedBackup[], policy: RetentionPolicy, nowMs: number, protect: string[] = []): PruneSelection {
  const decisions = decideRetention(backups, policy, nowMs, protect);
  return { keep: decisions.filter((d) => d.keep).map((d) => d.id), remove: decisions.filter((d) => !d.keep).map((d) => d.id) };
}
