/**
 * A manifest is read back from a destination that anyone able to write
 * there can edit. Before a restore writes anywhere, or retention deletes
 * anything, what the manifest says is checked:
 *
 * - its shape (src/backup/manifest.ts: strict keys, ID and project formats,
 *   archive file names without a path, volume names, normalized absolute
 *   bind paths);
 * - its place: the `id` inside must be the name of the folder it was read
 *   from, the `project` the project asked for;
 * - each data set against the project's spec: it must be one of the data
 *   sets a backup of that spec can take (src/backup/plan.ts dataSets), with
 *   the same kind, source and archive file. A restore then writes only to
 *   paths taken from the spec, never from the manifest.
 *
 * Every refusal names the manifest and the key. Pure: workflows import it.
 */
import type { StackSpec } from '../model/spec';
import { Label, MANAGED_BY } from '../model/labels';
import { ARCHIVE_ROOT, BACKUP_ID_PATTERN, hostCopyFileName } from './ids';
import { BackupManifest, isNormalAbsolutePath, type ArchiveEntry } from './manifest';
import { BackupPlanError, dataSets, describeCandidates } from './plan';

/** The manifest cannot be trusted as it is; nothing has been touched. */
export class ManifestError extends Error {}

/** `archives[0].source` from a zod issue path. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '') || '(top level)';
}

/** How messages name a manifest: its key in the destination and the destination. */
export function manifestLabel(project: string, folder: string, destination: string): string {
  return `manifest ${project}/${folder}/manifest.json in ${destination}`;
}

/**
 * Parse a manifest read from `<project>/<folder>/manifest.json`: JSON, the
 * schema, and its place (the folder's own name is a backup ID and is the ID
 * the manifest carries).
 */
export function parseManifest(text: string, where: { project: string; folder: string; label: string }): BackupManifest {
  if (!BACKUP_ID_PATTERN.test(where.folder)) throw new ManifestError(`${where.label}: the folder name ${JSON.stringify(where.folder)} is not a backup ID`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${where.label} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = BackupManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(`${where.label}: ${issuePath(issue.path)}: ${issue.message}`);
  }
  const m = parsed.data;
  if (m.id !== where.folder) throw new ManifestError(`${where.label}: id: ${JSON.stringify(m.id)} is not the name of the folder it is in (${where.folder})`);
  if (m.project !== where.project) throw new ManifestError(`${where.label}: project: ${JSON.stringify(m.project)} is not the project it is filed under (${where.project})`);
  return m;
}

/**
 * Check every data set of a manifest against the spec, then return the
 * chosen ones (`selected`, default all) as a restore must use them: key,
 * kind, source and archive file from the spec (they were checked equal), the
 * sizes and checksum from the manifest, and, for a volume the spec declares,
 * how to create it again from the spec's definition (never the manifest's
 * driver options, which could mount any host path).
 */
export function trustedRestoreEntries(manifest: BackupManifest, spec: StackSpec, label: string, selected: ArchiveEntry[] = manifest.archives): ArchiveEntry[] {
  if (manifest.project !== spec.project) throw new ManifestError(`${label}: project: ${JSON.stringify(manifest.project)} is not ${spec.project}`);
  const known = dataSets(spec);
  const trusted = new Map<ArchiveEntry, ArchiveEntry>();
  manifest.archives.forEach((entry, i) => {
    const at = `${label}: archives[${i}]`;
    const target = known.get(entry.key);
    if (!target) {
      throw new ManifestError(`${at}.key: ${JSON.stringify(entry.key)} is not a data set of project ${spec.project} (${describeCandidates([...known.values()])})`);
    }
    // A host copy's archive file names its host (src/backup/ids.ts); the host itself is checked against the placement by the caller.
    const archive = entry.hostCopy ? hostCopyFileName(target.kind, target.key, entry.host!) : target.archive;
    const expected = { kind: target.kind, source: target.source, archive };
    for (const field of ['kind', 'source', 'archive'] as const) {
      if (entry[field] !== expected[field]) {
        throw new ManifestError(`${at}.${field}: ${JSON.stringify(entry[field])} is not the ${field} of data set ${entry.key} of project ${spec.project} (${JSON.stringify(expected[field])})`);
      }
    }
    if (target.kind === 'bind' && (!isNormalAbsolutePath(target.source) || target.source.includes(':'))) {
      // The spec's own path: "/" or a path Docker's bind syntax cannot carry is never restored over.
      throw new ManifestError(`${at}.source: restoring over ${JSON.stringify(target.source)} is refused (a bind directory must be an absolute path other than "/", without ":")`);
    }
    const declared = target.kind === 'volume' ? spec.volumes[target.key] : undefined;
    const { volume: _untrusted, ...recorded } = entry;
    trusted.set(entry, {
      ...recorded,
      key: target.key,
      kind: target.kind,
      source: target.source,
      archive,
      root: ARCHIVE_ROOT,
      ...(declared && !declared.external
        ? {
            volume: {
              driver: declared.driver ?? 'local',
              options: declared.driverOpts,
              labels: { ...declared.labels, [Label.project]: spec.project, [Label.volume]: target.key, [Label.managedBy]: MANAGED_BY },
            },
          }
        : {}),
    });
  });
  return selected.map((entry) => {
    const found = trusted.get(entry);
    if (!found) throw new ManifestError(`${label}: data set ${JSON.stringify(entry.key)} was chosen but is not one of the manifest's archives`);
    return found;
  });
}

/**
 * A restore on one host (no hosts registered) of a backup holding host
 * copies (taken across hosts, of a spread service's data): each copy belongs
 * on its own host, and putting them all back on this one would write one
 * data set once per copy. Refused (a BackupPlanError), naming the data set and the hosts.
 */
export function refuseHostCopies(entries: ArchiveEntry[], label: string): void {
  const copy = entries.find((e) => e.hostCopy);
  if (!copy) return;
  const hosts = entries.filter((e) => e.hostCopy && e.key === copy.key).map((e) => e.host);
  throw new BackupPlanError(
    `${label}: ${copy.kind === 'volume' ? 'volume' : 'bind mount'} ${copy.key} is held as one copy per host (${hosts.join(', ')}): ` +
      'restore it across hosts, with a worker on each of them (dockflow worker --host NAME)',
  );
}
