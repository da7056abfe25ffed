/**
 * What a rollback across hosts goes back to: every host's ledger merged,
 * and a refusal, before anything is touched, when the hosts that could hold
 * the revision did not answer. A rollback goes on without a silent host
 * only when a host that answered holds the revision and the revision runs
 * on at least one host that answered (workflows/hosts.ts says what it could
 * not reach); otherwise it says which hosts did not answer, rather than
 * "nothing earlier to roll back to" from the ledgers it could read. A host
 * known down before it starts (host-liveness.ts) is not asked at all: it
 * counts as not reached at once, instead of after the silence bound.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { Revision } from '../src/model/revision';
import { OperationFailure } from '../src/errors';
import { HostSilent } from './apply';
import type { ProgressTracker } from './progress';
import { rollbackTarget } from './revisions';
import { sorted, type RouteOf } from './host-routes';
import { HOST_LIVENESS_EVERY_OPERATION_PATCH, downHosts, notAnswering, type DownHost } from './host-liveness';

/**
 * Every host's ledger merged: one entry per revision number (the copies are
 * the same stack revision), oldest first. A host whose worker does not take
 * the read within the silence bound is left out and named in `unreachable`:
 * the others' copies of the stack revisions are enough to go on.
 */
async function revisionsAcrossHosts(routeOf: RouteOf, project: string, hosts: string[], progress: ProgressTracker): Promise<{ revisions: Revision[]; unreachable: string[] }> {
  const unreachable: string[] = [];
  const lists = await Promise.all(
    hosts.map(async (h) => {
      try {
        return await progress.step(`list revisions of ${project} on ${h}`, () => routeOf(h).host.listRevisions(project));
      } catch (err) {
        if (!(err instanceof HostSilent)) throw err;
        unreachable.push(h);
        return [];
      }
    }),
  );
  const byNumber = new Map<number, Revision>();
  for (const list of lists) for (const r of list) if (!byNumber.has(r.number) || (r.placement && !byNumber.get(r.number)!.placement)) byNumber.set(r.number, r);
  return { revisions: [...byNumber.values()].sort((a, b) => a.number - b.number), unreachable: unreachable.sort() };
}

/**
 * The liveness look-up, then the ledgers of the hosts not known down, merged
 * (rollback and history across hosts). `unreachable`: the hosts known down
 * and those silent past the bound, sorted; `down`: the former, with how long
 * each has been silent.
 */
export async function revisionsOfLiveHosts(
  routeOf: RouteOf,
  project: string,
  registered: string[],
  seconds: number,
  progress: ProgressTracker,
): Promise<{ revisions: Revision[]; unreachable: string[]; down: Map<string, DownHost> }> {
  const down = await downHosts(registered, seconds, progress, HOST_LIVENESS_EVERY_OPERATION_PATCH);
  const asked = await revisionsAcrossHosts(routeOf, project, registered.filter((h) => !down.has(h)), progress);
  return { revisions: asked.revisions, unreachable: sorted([...down.keys(), ...asked.unreachable]), down };
}

/** What a rollback or a status says about hosts it could not reach. */
export function notReached(unreachable: string[]): string {
  return `${unreachable.join(', ')} ${unreachable.length === 1 ? 'was' : 'were'} not reached (${unreachable.length === 1 ? 'its' : 'their'} containers and ledger are as they were; the next operation converges ${unreachable.length === 1 ? 'it' : 'them'})`;
}

function refused(project: string, reason: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`rollback of ${project} refused before anything was touched: ${reason}; no host was changed`, OperationFailure.hostSilent);
}

/**
 * The current revision and the one to go back to (`to`, default the one
 * before the current), with the hosts that did not answer. Refuses when no
 * host answered, when the ledgers that answered lack the revision while
 * some hosts were silent (theirs may hold it), or when every host the
 * revision runs on is silent. `down`: the hosts known down before it asked
 * anything (none in a run recorded before the look-up), also in `unreachable`.
 */
export async function rollbackTargetAcrossHosts(
  routeOf: RouteOf,
  project: string,
  registered: string[],
  to: number | undefined,
  seconds: number,
  progress: ProgressTracker,
): Promise<{ current: Revision; target: Revision; unreachable: string[]; down: Map<string, DownHost> }> {
  const { revisions, unreachable, down } = await revisionsOfLiveHosts(routeOf, project, registered, seconds, progress);
  const reached = registered.filter((h) => !unreachable.includes(h));
  const silent = (hosts: string[]) => notAnswering(hosts, down, seconds);
  if (reached.length === 0) throw refused(project, `none of its hosts answered: ${silent(unreachable)}`);
  let found: { current: Revision; target: Revision };
  try {
    found = rollbackTarget(project, revisions, to, `the ledgers of ${reached.join(', ')}`);
  } catch (err) {
    if (unreachable.length === 0) throw err;
    const current = revisions.at(-1);
    const wanted = to !== undefined ? `revision ${to}` : current ? `revision before ${current.number}` : 'revision';
    throw refused(project, `the ledgers of the hosts that answered (${reached.join(', ')}) hold no ${wanted}, and the hosts that may hold it are silent: ${silent(unreachable)}`);
  }
  const targetHosts = sorted(Object.values(found.target.placement ?? {}));
  if (targetHosts.length > 0 && targetHosts.every((h) => unreachable.includes(h))) {
    throw refused(project, `revision ${found.target.number} runs on ${targetHosts.join(', ')}, and none of them answered: ${silent(targetHosts)}`);
  }
  return { ...found, unreachable, down };
}
