/**
 * Deterministic names for everything a backup, restore or migration creates.
 * Each is derived from the workflow ID (and the workflow's start time, which
 * Temporal fixes once), so a retried activity finds what an earlier attempt
 * made: the same backup directory, the same partial file, the same helper or
 * one-off container.
 *
 * Pure: workflows import this module.
 */
import { BACKUP_ID_PATTERN } from '../model/backup-ids';

export { BACKUP_ID_PATTERN };

/** FNV-1a, 32 bit, as 8 hex digits: short, stable, no Node crypto needed in the workflow sandbox. */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}


/**
 * The backup ID a workflow writes: its start time (UTC, to the second) and a
 * hash of its workflow ID, so two workflows started in the same second never
 * share a directory, and every retry of one workflow uses the same one.
 */
export function backupIdFor(startTime: Date, workflowId: string): string {
  const iso = startTime.toISOString(); // 2026-11-22T03:00:00.000Z
  const stamp = `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
  return `${stamp}-${shortHash(workflowId)}`;
}

/** Characters Docker allows in container names, and safe in file names. */
function clean(text: string): string {
  return text.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/**
 * A one-off container of a service (compose's `run`): `<project>-<service>-run-<op>`,
 * or `-dryrun-` for a migration's dry run. `<op>` comes from the workflow ID,
 * so a retried activity re-attaches to the container instead of starting a second one.
 */
export function oneOffName(project: string, service: string, kind: 'run' | 'dryrun', workflowId: string): string {
  return `${project}-${clean(service)}-${kind}-${shortHash(workflowId)}`;
}

/**
 * The one-off container of a deploy hook: `<project>-<service>-predeploy-<id>`
 * (or `-postdeploy-`). `<id>` hashes the workflow ID with where the hook was
 * configured, so a top-level hook and a service's own hook of the same
 * service never share a container, and a retried activity re-attaches to the
 * one it started.
 */
export function hookContainerName(project: string, service: string, phase: 'pre_deploy' | 'post_deploy', workflowId: string, origin: string): string {
  return `${project}-${clean(service)}-${phase.replace('_', '')}-${shortHash(`${workflowId}\n${origin}`)}`;
}

/**
 * A helper container that only mounts one data set so the Docker API can
 * read or write its files: `<project>-dockflow-<kind>-<op>-<target>`.
 */
export function helperName(project: string, kind: 'backup' | 'restore', workflowId: string, targetKey: string): string {
  return `${project}-dockflow-${kind}-${shortHash(workflowId)}-${shortHash(targetKey)}`;
}

/** Suffix of a file being written by one workflow: renamed away once complete. */
export function partialSuffix(workflowId: string): string {
  return `.partial-${clean(workflowId)}`;
}

/**
 * Archive file of a data set inside its backup: `volume-<key>.tar.gz`, or
 * `bind-<last path segment>-<hash>.tar.gz` (two binds may end in the same name).
 */
export function archiveFileName(kind: 'volume' | 'bind', key: string): string {
  if (kind === 'volume') return `volume-${clean(key)}.tar.gz`;
  const last = key.replace(/\/+$/, '').split('/').filter(Boolean).at(-1) ?? 'root';
  return `bind-${clean(last)}-${shortHash(key).slice(0, 6)}.tar.gz`;
}

/**
 * Archive file of one host's copy of a data set that a spread service holds
 * on each of its hosts: `volume-<key>.on-<host>.tar.gz` (the host named, so
 * copies from several hosts share one backup directory, or one bucket).
 */
export function hostCopyFileName(kind: 'volume' | 'bind', key: string, host: string): string {
  return archiveFileName(kind, key).replace(/\.tar\.gz$/, `.on-${clean(host)}.tar.gz`);
}

/** Directory name every archive's entries live under (the helper's mount point). */
export const ARCHIVE_ROOT = 'dockflow-volume' as const;
