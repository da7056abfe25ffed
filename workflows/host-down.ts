/**
 * down across hosts: every host that answers removes the project's part.
 *
 * A host known down before it starts (host-liveness.ts) is not asked: the
 * others are cleared at once, and the result says which host still runs the
 * stack (by the latest revision the other hosts' ledgers hold) and that a
 * next down clears it once its worker is back. The down succeeds: what it
 * could reach is gone. A host that goes silent during it fails it after the
 * bound, as before.
 */
import type { z } from 'zod';
import type { DownInput } from '../src/model/input';
import type { HostInfo } from '../src/model/hosts';
import type { Revision } from '../src/model/revision';
import { HOST_SILENCE_SECONDS, HostSilent } from './apply';
import { latestRevision } from './host-ledger';
import { HOST_LIVENESS_EVERY_OPERATION_PATCH, downHosts, silentFor, type DownHost } from './host-liveness';
import { router, sorted } from './host-routes';
import type { ProgressTracker } from './progress';
import type { DownResult } from './results';

export async function downAcrossHosts(input: z.output<typeof DownInput> & { hosts: HostInfo[] }, progress: ProgressTracker): Promise<DownResult> {
  const routeOf = router(input.hostSilenceSeconds);
  const registered = sorted(input.hosts.map((h) => h.name));
  const down = await downHosts(registered, input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS, progress, HOST_LIVENESS_EVERY_OPERATION_PATCH);
  const answering = registered.filter((h) => !down.has(h));
  // Read only when a host is down, to say what still runs there: a run with every host up issues the commands it always did.
  // Not knowing (another host silent too) only makes the warning vaguer; its down step below fails after the bound as before.
  let latest: Revision | undefined;
  try {
    if (down.size) latest = await latestRevision(routeOf, input.project, answering, progress);
  } catch (err) {
    if (!(err instanceof HostSilent)) throw err;
  }
  progress.phase('executing');
  const removed = await Promise.all(
    answering.map((h) => progress.step(`remove project ${input.project} on ${h}`, () => routeOf(h).docker.downProject({ project: input.project, volumes: input.volumes }))),
  );
  const result: DownResult = { project: input.project, removed: removed.flatMap((r) => r.removed) };
  if (down.size === 0) {
    progress.phase('done');
    return result;
  }
  progress.phase(`done; ${[...down.keys()].join(', ')} not reached`);
  return { ...result, unreachable: [...down.keys()], warnings: [...down.values()].map((d) => stillRuns(input.project, d, latest)) };
}

/** What a down could not remove on a host that is down, by the latest revision the others hold. */
function stillRuns(project: string, down: DownHost, latest: Revision | undefined): string {
  const placed = Object.keys(latest?.placement ?? {})
    .filter((s) => latest!.placement![s] === down.name || latest!.spread?.[s]?.includes(down.name))
    .sort();
  const what = placed.length
    ? `still runs ${placed.length === 1 ? 'service' : 'services'} ${placed.join(', ')} of project ${project} (revision ${latest!.number})`
    : `was not cleared: whatever of project ${project} it runs still runs`;
  return `host ${down.name} is down (${silentFor(down)}) and ${what}; run dockflow down -p ${project} again once its worker is back`;
}
