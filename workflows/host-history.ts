/**
 * `history` across hosts: every registered host's ledger read through its
 * own worker, and every host's backup listing, merged. On one machine the
 * workflow's own worker reads its ledger; across hosts that worker is any
 * host's (whichever polls the shared queue first), whose ledger may lack the
 * revisions of a stack it does not run. A host known down (host-liveness.ts)
 * is not asked, and one silent past the bound is left out; both are named:
 * the others' copies of the stack revisions are the history.
 */
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import type { HostInfo } from '../src/model/hosts';
import type { HistoryInput } from '../src/model/input';
import { OperationFailure } from '../src/errors';
import { HOST_SILENCE_SECONDS, HostSilent } from './apply';
import { ProgressTracker } from './progress';
import { router } from './host-routes';
import { notAnswering } from './host-liveness';
import { revisionsOfLiveHosts } from './host-rollback';
import type { BackupSummary } from '../src/backup/manifest';

/** What `history` returns across hosts: the merged revisions, and the hosts whose worker did not answer. */
export interface HistoryAcrossHosts<E> {
  revisions: E[];
  unreachable: string[];
}

/**
 * Each host's backup listing merged by backup ID, oldest first (every host
 * keeps a copy of each manifest taken across hosts). A host whose default
 * directory cannot be listed, or that is silent now, is left out; undefined
 * when no host could list (an unreadable default directory only hides the
 * data backups, as on one host). A destination the user named must list.
 */
async function backupsAcrossHosts(
  routeOf: ReturnType<typeof router>,
  project: string,
  hosts: string[],
  destination: HistoryInput['destination'],
  progress: ProgressTracker,
): Promise<BackupSummary[] | undefined> {
  const listings = await Promise.all(
    hosts.map(async (h) => {
      try {
        return await progress.step(`list backups of ${project} on ${h}`, () => routeOf(h).docker.listBackups({ project, destination }));
      } catch (err) {
        if (destination !== undefined || isCancellation(err)) throw err;
        if (!(err instanceof HostSilent) && !(err instanceof ApplicationFailure)) throw err;
        return undefined;
      }
    }),
  );
  const read = listings.filter((l) => l !== undefined);
  if (read.length === 0) return undefined;
  return mergeBackupListings(read.map((l) => l.backups));
}

/** Backup listings of several hosts as one: one entry per backup ID, oldest first. */
export function mergeBackupListings(listings: BackupSummary[][]): BackupSummary[] {
  return [...new Map(listings.flat().map((b) => [b.id, b])).values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * The revisions and backups `history` needs, read on every host. Refused
 * when no host answered: an empty history would read as "never deployed".
 */
export async function historyAcrossHosts(input: { project: string; hosts: HostInfo[]; hostSilenceSeconds?: number; destination?: HistoryInput['destination'] }) {
  const progress = new ProgressTracker('history', input.project);
  const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
  const routeOf = router(input.hostSilenceSeconds);
  const registered = input.hosts.map((h) => h.name).sort();
  // A host known down is not asked (no wait for the bound), and is named with the silent ones.
  const { revisions, unreachable, down } = await revisionsOfLiveHosts(routeOf, input.project, registered, seconds, progress);
  if (unreachable.length === registered.length) {
    throw ApplicationFailure.nonRetryable(`history of ${input.project}: none of its hosts answered: ${notAnswering(unreachable, down, seconds)}`, OperationFailure.hostSilent);
  }
  const answering = registered.filter((h) => !unreachable.includes(h));
  const backups = await backupsAcrossHosts(routeOf, input.project, answering, input.destination, progress);
  progress.phase('done');
  return { revisions, backups, unreachable };
}
