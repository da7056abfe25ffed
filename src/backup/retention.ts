/**
 * Retention: which complete backups of a project to delete. Pure, so the
 * workflow decides (deterministically) and an activity only deletes.
 *
 * - keepLast N keeps the N newest backups; keepDays D keeps every backup
 *   younger than D days. With both, a backup is kept when either rule keeps
 *   it (rules widen, never narrow, what survives).
 * - Without any rule nothing is deleted.
 * - The newest verified backup is never deleted, whatever the rules say, and
 *   neither is any backup in `protect` (the one just taken).
 */

export interface RetentionPolicy {
  keepLast?: number;
  keepDays?: number;
}

export interface RetainedBackup {
  id: string;
  /** ISO time. */
  createdAt: string;
  verified: boolean;
}

export interface PruneSelection {
  keep: string[];
  remove: string[];
}

const DAY_MS = 86_400_000;

export function selectForPruning(backups: RetainedBackup[], policy: RetentionPolicy, nowMs: number, protect: string[] = []): PruneSelection {
  const newestFirst = [...backups].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id));
  if (policy.keepLast === undefined && policy.keepDays === undefined) return { keep: newestFirst.map((b) => b.id), remove: [] };
  const newestVerified = newestFirst.find((b) => b.verified)?.id;
  const keep: string[] = [];
  const remove: string[] = [];
  newestFirst.forEach((b, index) => {
    const byCount = policy.keepLast !== undefined && index < policy.keepLast;
    const byAge = policy.keepDays !== undefined && nowMs - Date.parse(b.createdAt) <= policy.keepDays * DAY_MS;
    if (byCount || byAge || b.id === newestVerified || protect.includes(b.id)) keep.push(b.id);
    else remove.push(b.id);
  });
  return { keep, remove };
}
