/**
 * Workflow IDs of dockflow operations, in a module of their own so that
 * `dockflow ps` names its history workflow without loading the Temporal SDK
 * (./operations.ts imports it).
 */

/** Workflow IDs say what runs on which project, so the UI's list reads well. */
export function operationId(kind: string, project: string, now = new Date()): string {
  // 20261122-120501-123: readable, sortable, and unique per project at millisecond resolution.
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').replace('.', '-').slice(0, 19);
  return `${kind}-${project}-${stamp}`;
}
