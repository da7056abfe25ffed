/**
 * What deploy, update and rollback return, on one host or across hosts
 * (hosts.ts). Apart from those workflows, so that hosts.ts, which they
 * import, needs nothing from them. The CLI and the tests import each type
 * from its workflow's module, which re-exports it.
 */
import type { WithFinalProgress } from '../src/messages';

export interface DeployResult extends WithFinalProgress {
  project: string;
  dryRun: boolean;
  /** The plan's operations, one line each (what the deploy reports after it ran). */
  plan: string;
  /**
   * Every step the executor takes, in order, each with its cause and what it
   * runs after (src/plan/graph.ts): what --dry-run prints. Absent in results
   * of runs recorded before it existed.
   */
  graph?: string;
  operations: number;
  /** Canonical container names per service after the deploy. */
  services: Record<string, string[]>;
  warnings: string[];
  /** The ledger revision the project is at afterwards (absent for a dry run). */
  revision?: number;
  /** Across hosts: the host of every service. */
  hosts?: Record<string, string>;
  /** Across hosts: the hosts each spread service's replicas spread over (replica n on the ((n-1) mod k)-th). */
  spread?: Record<string, string[]>;
  /** The deploy hooks this deploy runs (or would run, in a dry run), in order; absent when none. */
  hooks?: string[];
}

export interface UpdateResult {
  project: string;
  service: string;
  plan: string;
  /** The revision the update recorded; in a dry run, the current one it would start from. */
  revision: number;
  /** Present and true for `update --dry-run`: nothing was changed, `graph` is what would run. */
  dryRun?: boolean;
  /** A dry run: every step the update would take, in order, with causes (src/plan/graph.ts). */
  graph?: string;
  /** A dry run: how many container operations it would apply. */
  operations?: number;
  /** A post_deploy hook that failed with failure_action continue. */
  warnings?: string[];
  /** Across hosts: the host of every service. */
  hosts?: Record<string, string>;
  /** Across hosts: the hosts each spread service's replicas spread over (replica n on the ((n-1) mod k)-th). */
  spread?: Record<string, string[]>;
}

export interface RollbackResult {
  project: string;
  restored: number;
  revision: number;
  plan: string;
  /** Across hosts: hosts whose worker did not answer, left as they were (the others were rolled back). */
  unreachable?: string[];
  /** With data: the backup whose data was put back. */
  dataBackup?: string;
  /** With data: the backup of the data it replaced, linked to the revision that was current. */
  safetyBackup?: string;
  /** With data: the data sets put back. */
  dataSets?: string[];
}

/** What down returns. */
export interface DownResult {
  project: string;
  /** The containers (and networks, volumes) removed. */
  removed: string[];
  /** Across hosts: hosts known down before it started, not asked (their part still runs). */
  unreachable?: string[];
  /** Across hosts: what each host in `unreachable` still runs, and how to clear it. */
  warnings?: string[];
}
