/**
 * Every patch decision of dockflow's workflows goes through `isPatched`
 * (lint bans `patched` from '@temporalio/workflow' elsewhere in workflows/).
 *
 * Why: each patch a run takes costs two history events (its marker and the
 * `TemporalChangeVersion` search-attribute upsert the SDK adds beside it), and
 * a deploy took four (issue 17: history events per service). A run started
 * after `ONE_MARKER_PATCH` records that one marker instead, at its first patch
 * decision, and every patch listed in `COVERED_PATCHES` counts as taken
 * without a marker of its own.
 *
 * Deterministic: `patched(id)` is true in a live run and, on replay, exactly
 * when the history holds id's marker (the SDK's rule). A run that recorded
 * `ONE_MARKER_PATCH` ran code in which every covered patch was taken, so on
 * replay `patched(ONE_MARKER_PATCH)` answers true for them; a history recorded
 * before it has no such marker, so each covered patch is asked for itself and
 * answers as it was recorded (test/histories/ replays both kinds). A run in
 * flight across the upgrade gets true from either, as live code would.
 *
 * `COVERED_PATCHES` is frozen: a patch added later is not implied by a marker
 * recorded before it existed, so it must be asked for with its own marker
 * (leave it out of the list).
 */
import { patched } from '@temporalio/workflow';

/** patched() ID standing for every patch in COVERED_PATCHES (docs/workflow-changes.md). */
export const ONE_MARKER_PATCH = 'dockflow-one-patch-marker';

/** The patches that existed when ONE_MARKER_PATCH was introduced (2026-11-30). Never add to it. */
const COVERED_PATCHES: ReadonlySet<string> = new Set([
  'dockflow-search-attributes',
  'dockflow-policy-every-operation',
  'dockflow-verify-host',
  'dockflow-after-replace-before-retire',
  'dockflow-restore-spec',
  'dockflow-restore-settle',
  'dockflow-rollback-with-data',
  'dockflow-history-data-backups',
  'dockflow-notify',
  'dockflow-deploy-hooks',
  'dockflow-fewer-round-trips',
]);

/** True when the run takes patch `id`: in every run started since, false when replaying a history recorded before it. */
export function isPatched(id: string): boolean {
  // Short-circuit: a run that took ONE_MARKER_PATCH records no marker for a covered patch.
  if (COVERED_PATCHES.has(id) && patched(ONE_MARKER_PATCH)) return true;
  return patched(id);
}

/** True in runs started after ONE_MARKER_PATCH, for changes guarded by it alone. */
export function oneMarkerRun(): boolean {
  return patched(ONE_MARKER_PATCH);
}
