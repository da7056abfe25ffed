/**
 * Manifests: a backup's manifest.json (written last: its presence makes the
 * backup complete), the listing of a project's backups, reading and
 * checking one manifest, and the removal of whole backups.
 */
import { ErrorType } from '../../src/errors';
import { BACKUP_ID_PATTERN, partialSuffix } from '../../src/backup/ids';
import { BackupManifest, sha256sums, summarizeManifest, type BackupSummary } from '../../src/backup/manifest';
import { ManifestError, manifestLabel, parseManifest, trustedRestoreEntries } from '../../src/backup/manifest-check';
import type { StackSpec } from '../../src/model/spec';
import { failure, type BackupContext } from './context';

export function createManifestActivities(ctx: BackupContext) {
  const { destinationOf } = ctx;
  return {
    /** Write SHA256SUMS, then the manifest: its presence is what makes the backup complete. */
    async commitManifest(input: { destination?: string; manifest: BackupManifest }): Promise<string> {
      const manifest = BackupManifest.parse(input.manifest);
      const dest = destinationOf(input.destination, manifest.project, [manifest.id]);
      const key = `${manifest.project}/${manifest.id}/manifest.json`;
      const existing = await dest.readText(key);
      if (existing !== undefined) {
        if ((JSON.parse(existing) as { workflowId?: string }).workflowId === manifest.workflowId) return dest.description;
        throw failure(`backup ${manifest.id} of project ${manifest.project} already exists in ${dest.description}, written by another workflow`, ErrorType.dataUnavailable);
      }
      const token = partialSuffix(manifest.workflowId).slice('.partial-'.length);
      await dest.writeText(`${manifest.project}/${manifest.id}/SHA256SUMS`, sha256sums(manifest), token);
      await dest.writeText(key, `${JSON.stringify(manifest, null, 2)}\n`, token);
      return dest.description;
    },

    /** Remove what a backup that did not complete left behind; a complete backup (with manifest) is never touched. */
    async discardIncompleteBackup(input: { project: string; backupId: string; destination?: string }): Promise<boolean> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      if (await dest.exists(`${input.project}/${input.backupId}/manifest.json`)) return false;
      await dest.remove(`${input.project}/${input.backupId}`);
      return true;
    },

    /**
     * Complete backups of a project, oldest first; directories without a
     * manifest, or whose name is not a backup ID, are reported as
     * incomplete. A backup is known by its folder's own name, which must be
     * the ID its manifest carries: a manifest that disagrees (or fails the
     * schema) is left out and reported in `rejected`, so retention never
     * acts on it.
     */
    async listBackups(input: { project: string; destination?: string }): Promise<{ destination: string; backups: BackupSummary[]; incomplete: string[]; rejected?: string[] }> {
      const dest = destinationOf(input.destination, input.project);
      const backups: BackupSummary[] = [];
      const incomplete: string[] = [];
      const rejected: string[] = [];
      for (const folder of await dest.list(input.project)) {
        const label = manifestLabel(input.project, folder, dest.description);
        // Not a backup ID: nothing dockflow wrote, and no key may be built from it.
        if (!BACKUP_ID_PATTERN.test(folder)) {
          incomplete.push(folder);
          continue;
        }
        const text = await dest.readText(`${input.project}/${folder}/manifest.json`);
        if (text === undefined) {
          incomplete.push(folder);
          continue;
        }
        try {
          backups.push(summarizeManifest(parseManifest(text, { project: input.project, folder, label })));
        } catch (err) {
          if (!(err instanceof ManifestError)) throw err;
          rejected.push(err.message);
        }
      }
      backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
      return { destination: dest.description, backups, incomplete, ...(rejected.length > 0 ? { rejected } : {}) };
    },

    /**
     * Read and check a backup's manifest (schema, and that it is filed where
     * it says); with the project's spec, also every data set against it
     * (src/backup/manifest-check.ts). A bad manifest is a non-retryable
     * BackupCorrupt naming the file and the key.
     */
    async readBackup(input: { project: string; backupId: string; destination?: string; spec?: StackSpec }): Promise<BackupManifest> {
      const dest = destinationOf(input.destination, input.project, [input.backupId]);
      const text = await dest.readText(`${input.project}/${input.backupId}/manifest.json`);
      if (text === undefined) {
        const available = (await dest.list(input.project)).slice(-5);
        throw failure(
          `project ${input.project} has no complete backup ${input.backupId} in ${dest.description}` +
            (available.length ? ` (latest: ${available.join(', ')}; see dockflow backups -p ${input.project})` : ' (it has no backups there)'),
          ErrorType.backupNotFound,
        );
      }
      const label = manifestLabel(input.project, input.backupId, dest.description);
      try {
        const manifest = parseManifest(text, { project: input.project, folder: input.backupId, label });
        if (input.spec) trustedRestoreEntries(manifest, input.spec, label);
        return manifest;
      } catch (err) {
        if (err instanceof ManifestError) throw failure(err.message, ErrorType.backupCorrupt);
        throw err;
      }
    },

    /** Delete backups by folder name (a backup ID, checked); the manifest goes first, so a half-deleted backup never counts as complete. */
    async deleteBackups(input: { project: string; backupIds: string[]; destination?: string }): Promise<string[]> {
      const dest = destinationOf(input.destination, input.project, input.backupIds);
      const bad = input.backupIds.filter((id) => !BACKUP_ID_PATTERN.test(id));
      if (bad.length > 0) throw failure(`refusing to delete backups of project ${input.project}: ${bad.map((id) => JSON.stringify(id)).join(', ')} is not a backup ID`, ErrorType.invalidSpec);
      for (const id of input.backupIds) {
        await dest.remove(`${input.project}/${id}/manifest.json`);
        await dest.remove(`${input.project}/${id}`);
      }
      return input.backupIds;
    },
  };
}
