/**
 * rollback --with-data across hosts: revision N's containers on every host,
 * and on each host the data N ran on, in one workflow under the project lock.
 * The order and the undo are those of the single-host rollback-data.ts:
 *
 *   nothing changes in this part; every failure is non-retryable and leaves every host as it was:
 *     every registered host answers → revision N's backup (each host keeps a
 *     copy of the manifest) → its data sets, each on the host whose archive
 *     it is, checked against N's spec → N runs on its hosts (policy, exact
 *     image IDs) → on each host, its policy for the directories it writes
 *     and its archives read back
 *   → back up the current data of those data sets, each on its host (reason
 *     "rollback", linked to the current revision on every host)
 *   everything from here is undone on failure or cancellation:
 *     host by host: stop the containers that mount them, restore each data
 *     set → revision N's containers on every host → record a revision on each
 *   undo: every data set touched gets the copy taken above back, then the
 *   current revision's containers go back on every host.
 *
 * Unlike a rollback of images only, a silent host is not left out: its data
 * would stay on the other revision while its neighbours change. The rollback
 * is refused before anything is touched, naming the hosts that did not answer
 * (at once for a host known down before it starts: host-liveness.ts).
 */
import { mergeBackupListings } from './host-history';
import { ApplicationFailure, CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { RollbackInput } from '../src/model/input';
import { hostTaskQueue, type HostInfo } from '../src/model/hosts';
import type { ArchiveEntry, BackupManifest } from '../src/backup/manifest';
import type { DataContainer } from '../src/backup/plan';
import { backupForRevision } from '../src/backup/revision-backup';
import type { Revision } from '../src/model/revision';
import { ErrorType, OperationFailure } from '../src/errors';
import { HOST_SILENCE_SECONDS, type HostPlan } from './apply';
import { dataRouteTo } from './data-route';
import { across, readManifestAcrossHosts, restoreShares, spreadData, type StackOnHosts } from './data-hosts';
import { startAgain } from './data-common';
import { checkRestorable } from './restore-run';
import { backUpDataToReplace, replaceData, undone, type RollbackWithDataResult } from './rollback-data';
import { rollbackTargetAcrossHosts } from './host-rollback';
import { notAnswering } from './host-liveness';
import { checkRevisionOnHosts, formatHostPlans, restoreAcrossHosts } from './host-plans';
import { recordEverywhere } from './host-ledger';
import { router, sorted } from './host-routes';
import { changedServices, revisionImageIds } from './revisions';
import { rootMessage, type ProgressTracker } from './progress';

type RollbackOptions = z.output<typeof RollbackInput> & { hosts: HostInfo[] };

export async function rollbackWithDataAcrossHosts(input: RollbackOptions, progress: ProgressTracker): Promise<RollbackWithDataResult> {
  const { project, destination } = input;
  const operation = workflowInfo().workflowId;
  const seconds = input.hostSilenceSeconds ?? HOST_SILENCE_SECONDS;
  const routeOf = router(input.hostSilenceSeconds);
  const dataRouteOf = (host: string) => dataRouteTo(hostTaskQueue(workflowInfo().taskQueue, host), host, seconds);
  const registered = sorted(input.hosts.map((h) => h.name));

  progress.phase('checking');
  const { current, target, unreachable, down } = await rollbackTargetAcrossHosts(routeOf, project, registered, input.to, seconds, progress);
  if (unreachable.length > 0) {
    // Worded as before for hosts that went silent (down is empty in runs recorded before the look-up).
    const why = down.size ? notAnswering(unreachable, down, seconds) : `${unreachable.join(', ')} did not answer within ${seconds} s`;
    const hint = down.size ? '' : ` (is "dockflow worker --host <name>" running on ${unreachable.length === 1 ? 'it' : 'each'}?)`;
    throw ApplicationFailure.nonRetryable(
      `rollback of ${project} to revision ${target.number} with data refused before anything was touched: ${why}, ` +
        `and a host's data cannot stay on another revision than its neighbours'; no host was changed${hint}`,
      OperationFailure.hostSilent,
    );
  }
  const placement = await checkRevisionOnHosts(routeOf, target, input.hosts, [], progress);
  // Revision N's stack where N ran: its data sets belong to the hosts of the services that mount them
  // (a spread service's: a copy on each of its hosts, restored each on its own).
  const spreadOver = spreadData(target.spec, placement.hostOf, placement.spread);
  const stack: StackOnHosts = {
    spec: target.spec,
    revision: current,
    hostOf: placement.hostOf,
    ...(spreadOver ? { spreadOver } : {}),
    routeOf: dataRouteOf,
    registered,
    silent: [],
    down: new Map(),
    ledgerHosts: registered,
  };

  // Every answering host keeps a copy of each manifest taken across hosts: the listings together name them all.
  const listings = await Promise.all(registered.map((h) => progress.step(`list backups of ${project} on ${h}`, () => dataRouteOf(h).docker.listBackups({ project, destination }))));
  const backups = mergeBackupListings(listings.map((l) => l.backups));
  const where = listings[0]?.destination ?? 'the backup destination';
  const chosen = backupForRevision(target, backups);
  if (!chosen) {
    throw ApplicationFailure.nonRetryable(
      `project ${project} has no backup of revision ${target.number}'s data in ${where} on ${registered.join(', ')}; nothing was changed. ` +
        `Roll back the images only with dockflow rollback -p ${project} --to ${target.number}`,
      ErrorType.backupNotFound,
    );
  }
  const manifest: BackupManifest = await readManifestAcrossHosts(stack, { project, backupId: chosen.id, destination }, seconds, progress);
  const shares = restoreShares(stack, manifest, [], seconds);
  for (const host of shares.hosts) await checkRestorable(project, chosen.id, shares.byHost.get(host)!, destination, dataRouteOf(host), progress);
  // Each data set once, though its host copies are several.
  const keys = [...new Set(shares.hosts.flatMap((h) => shares.byHost.get(h)!.map((e) => e.key)))];

  const safety = await backUpDataToReplace(target, current, keys, destination, progress, across(stack));
  const safetyShares = restoreShares(stack, safety, keys, seconds);

  const touched = new Map<string, ArchiveEntry[]>(shares.hosts.map((h) => [h, []]));
  const before = new Map<string, DataContainer[]>();
  // The hosts the current revision uses (a spread service's too) lose what the target does not place there.
  const alsoOn = hostsOfRevision(current).filter((h) => registered.includes(h));
  let parts: HostPlan[];
  try {
    progress.phase(`restoring the data of revision ${target.number} from backup ${chosen.id}`);
    // Host by host: a failure part-way leaves the hosts after it untouched, and the undo knows which were.
    for (const host of shares.hosts) {
      before.set(host, await replaceData(project, chosen.id, shares.byHost.get(host)!, destination, operation, touched.get(host)!, progress, dataRouteOf(host)));
    }
    progress.phase(`restoring the containers of revision ${target.number}`);
    parts = await restoreAcrossHosts(routeOf, target, input.hosts, alsoOn, progress, { healthTimeoutSeconds: input.healthTimeoutSeconds, renewAnonVolumes: input.renewAnonVolumes });
  } catch (err) {
    progress.phase('undoing: putting the data and the containers back as they were on every host');
    const problems: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const host of shares.hosts) {
        const undo = (safetyShares.byHost.get(host) ?? []).filter((e) => touched.get(host)!.some((t) => t.key === e.key));
        if (undo.length === 0) continue;
        try {
          await replaceData(project, safety.id, undo, destination, `${operation}/undo`, [], progress, dataRouteOf(host));
        } catch (undoErr) {
          problems.push(`putting the data back on ${host} failed (${rootMessage(undoErr)}); restore it with dockflow restore -p ${project} ${safety.id}`);
        }
      }
      try {
        await restoreAcrossHosts(routeOf, current, input.hosts, hostsOfRevision(target).filter((h) => registered.includes(h)), progress, { healthTimeoutSeconds: input.healthTimeoutSeconds });
      } catch (undoErr) {
        problems.push(`putting revision ${current.number}'s containers back failed (${rootMessage(undoErr)})`);
        for (const [host, containers] of before) await startAgain(project, containers, [], progress, dataRouteOf(host)).catch(() => undefined);
      }
      for (const host of shares.hosts) {
        await dataRouteOf(host).docker.removeHelpers({ project, operation });
        await dataRouteOf(host).docker.removeHelpers({ project, operation: `${operation}/undo` });
      }
    });
    throw undone(err, problems, target, current, safety.id, ' on every host', progress);
  }
  for (const host of shares.hosts) await dataRouteOf(host).docker.removeHelpers({ project, operation });
  const revision = await recordEverywhere(
    routeOf,
    progress,
    { project, operation: 'rollback', spec: target.spec, imageIds: revisionImageIds(target), changed: parts.flatMap((p) => changedServices(p.plan)), restoredFrom: target.number },
    placement,
    current.number + 1,
  );
  progress.phase('done');
  return {
    project,
    restored: target.number,
    revision: revision.number,
    plan: formatHostPlans(parts),
    dataBackup: chosen.id,
    safetyBackup: safety.id,
    dataSets: keys,
  };
}

/** Every host a revision placed something on: each service's, and each host a spread service spreads over. */
function hostsOfRevision(revision: Revision): string[] {
  return [...Object.values(revision.placement ?? {}), ...Object.values(revision.spread ?? {}).flat()];
}
