/**
 * Restores: a data set's contents replaced by an archive's without ever
 * destroying the only copy (src/backup/restore-swap.ts), the settle step
 * after a restore stopped, and the removal of an operation's helpers.
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { Transform, Writable, pipeline as pipelineCallback, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Label } from '../../src/model/labels';
import { ErrorType } from '../../src/errors';
import { helperName } from '../../src/backup/ids';
import type { ArchiveEntry } from '../../src/backup/manifest';
import { RESTORE_MOUNT, RESTORE_SCRIPT, restoreIdFor, stagingDirName, type RestoreStep } from '../../src/backup/restore-swap';
import { ArchiveMismatch, tarGate } from '../../src/backup/restore-stream';
import type { BackupDestination } from '../../src/backup/destination';
import { tailLines } from '../../src/backup/output';
import { HELPER_LABEL, checkedEntry, currentContext, describeTarget, failure, helperLabels, throttledHeartbeat, throwIfCancelled, type BackupContext } from './context';
import { demuxLogs, messageOf, removeContainerIfPresent, statusOf } from './docker-common';
import { archiveChecker, archiveProblem, type ArchiveSeen } from './archive-read';

export function createRestoreActivities(ctx: BackupContext) {
  const { docker, decryptorFor, destinationOf, firstImageOnHost } = ctx;

  /** A volume gone since the backup (e.g. `down -v`) is created again from the spec's definition, labels included. */
  async function ensureRestoreVolume(entry: ArchiveEntry, what: string): Promise<void> {
    if (entry.kind !== 'volume') return;
    try {
      await docker.getVolume(entry.source).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!entry.volume) {
      throw failure(`${what} does not exist, and it is external (not the project's to create): create it, then restore again`, ErrorType.dataUnavailable);
    }
    // As a deploy creates it (src/docker/container-config.ts volumeCreateOptions): no DriverOpts when the spec gives none.
    const options = entry.volume.options;
    await docker.createVolume({ Name: entry.source, Driver: entry.volume.driver, ...(Object.keys(options).length > 0 ? { DriverOpts: options } : {}), Labels: entry.volume.labels });
  }

  /**
   * Runs the steps of src/backup/restore-swap.ts in a helper container
   * mounting the data set, one container per step under the helper's
   * deterministic name; the last one stays (exited) for the archive API
   * until remove().
   */
  function restoreHelper(project: string, operation: string, entry: ArchiveEntry, what: string, candidates: string[]) {
    const name = helperName(project, 'restore', operation, entry.key);
    const restoreId = restoreIdFor(operation);
    let image: string | undefined;
    return {
      restoreId,
      async run(step: RestoreStep): Promise<{ container: Docker.Container; output: string }> {
        await removeContainerIfPresent(docker, name);
        const problems: string[] = [];
        const images = image ? [image] : await firstImageOnHost(candidates);
        for (const candidate of images) {
          const created = await docker.createContainer({
            name,
            Image: candidate,
            User: '0:0',
            // argv, not a command line: the script is fixed text, the step and the ID are its only inputs.
            Entrypoint: ['/bin/sh', '-c', RESTORE_SCRIPT, 'dockflow-restore'],
            Cmd: [step],
            Env: [`DOCKFLOW_RESTORE_ID=${restoreId}`, `DOCKFLOW_RESTORE_ROOT=${RESTORE_MOUNT}`],
            WorkingDir: '/',
            Labels: helperLabels(project, 'restore', operation),
            HostConfig: { Binds: [`${entry.source}:${RESTORE_MOUNT}${entry.kind === 'volume' ? ':nocopy' : ''}`], NetworkMode: 'none' },
          });
          try {
            await created.start();
          } catch (err) {
            if (statusOf(err) === undefined) throw err; // the engine itself is gone (a restart): retried once it answers
            // This image has no /bin/sh: try the next one.
            problems.push(`${candidate}: ${messageOf(err)}`);
            await removeContainerIfPresent(docker, created.id);
            continue;
          }
          const { StatusCode } = (await created.wait()) as { StatusCode: number };
          const logs = demuxLogs((await created.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
          if (StatusCode !== 0) {
            await removeContainerIfPresent(docker, created.id);
            // Retryable: a daemon restart kills the step (137); the next attempt picks up from the directories.
            throw new Error(`${what}: restore step ${step} failed (exit ${StatusCode}): ${tailLines(logs, 5)}`);
          }
          image = candidate;
          return { container: created, output: logs.trim().split('\n').at(-1) ?? '' };
        }
        throw failure(
          `${what}: no image on this host with /bin/sh to restore the data set with (${problems.join('; ') || `tried ${candidates.join(', ') || 'none'}`}); set DOCKFLOW_HELPER_IMAGE to one, e.g. a busybox image`,
          ErrorType.dataUnavailable,
        );
      },
      remove: () => removeContainerIfPresent(docker, name),
    };
  }

  /**
   * Stream an archive from the destination into a directory of the helper's
   * mount (src/backup/restore-stream.ts): read, hashed, decrypted (each
   * frame's plaintext only once its tag was checked), decompressed here, and
   * sent to Docker as plain tar; once the whole archive matched its manifest
   * entry (sha256, size, tar size), the marker entry the commit step looks
   * for goes last. When anything failed, the file is checked again on its
   * own, to tell a damaged archive (non-retryable BackupCorrupt) from a
   * Docker problem (retryable).
   */
  async function streamArchiveInto(
    container: Docker.Container,
    dest: BackupDestination,
    key: string,
    entry: ArchiveEntry,
    into: string,
    what: string,
    backupId: string,
  ): Promise<void> {
    const context = currentContext();
    const abort = new AbortController();
    const cancelled = () => abort.abort(new Error('cancelled'));
    context?.cancellationSignal.addEventListener('abort', cancelled);
    const source = await dest.openRead(key);
    const hash = createHash('sha256');
    let archiveBytes = 0;
    const beat = throttledHeartbeat(`restore ${entry.key}`);
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        archiveBytes += chunk.length;
        beat(archiveBytes);
        done(null, chunk);
      },
    });
    const decrypt = decryptorFor(entry, key);
    // Output chunks as large as the reads: the default 16 KiB costs a call per 16 KiB.
    const gunzip = zlib.createGunzip({ chunkSize: 1024 * 1024 });
    // Called once the gate saw the whole tar: by then every byte of the archive went through `counted`.
    const gate = tarGate({
      check: (tree) => archiveProblem({ sha256: hash.digest('hex'), archiveBytes, tree }, entry),
      marker: `${entry.sha256}\n`,
    });
    let streamError: Error | undefined;
    const body = pipelineCallback([source, counted, ...(decrypt ? [decrypt] : []), gunzip, gate], (err) => {
      if (!err) return;
      streamError = err;
      // The request must fail rather than end: a tar cut at an entry's end reads as a whole one.
      abort.abort(err);
    }) as unknown as Readable;
    let dockerError: unknown;
    try {
      await container.putArchive(body, { path: into, abortSignal: abort.signal });
    } catch (err) {
      dockerError = err;
    } finally {
      context?.cancellationSignal.removeEventListener('abort', cancelled);
    }
    throwIfCancelled();
    // Docker answers once it read the end-of-archive blocks, which the gate sends only after the
    // marker, itself sent only when the check passed.
    if (dockerError === undefined && streamError === undefined && gate.checked()) return;
    if (streamError instanceof ArchiveMismatch) {
      throw failure(`archive ${entry.archive} of backup ${backupId} (${what}) is damaged: ${streamError.message}; nothing was restored, the data set is as it was`, ErrorType.backupCorrupt);
    }
    source.destroy();
    const again = archiveChecker(`check ${entry.archive}`, decryptorFor(entry, key));
    await pipeline(await dest.openRead(key), again.stream, new Writable({ write: (_chunk, _enc, done) => done() }));
    const seen: ArchiveSeen = await again.seen();
    const problem = archiveProblem(seen, entry);
    if (problem !== undefined) {
      throw failure(`archive ${entry.archive} of backup ${backupId} (${what}) is damaged: ${problem}; nothing was restored, the data set is as it was`, ErrorType.backupCorrupt);
    }
    if (dockerError !== undefined) {
      // Keeps the socket error's code, so a daemon restart is recognised as such (activities/index.ts).
      const code = (dockerError as { code?: unknown }).code;
      throw Object.assign(new Error(`${what}: writing archive ${entry.archive} through the Docker API failed: ${messageOf(dockerError)}`), code !== undefined ? { code } : {});
    }
    // The archive checks out on its own: what failed was reading it this time (retryable).
    throw new Error(`${what}: streaming archive ${entry.archive} into the data set failed: ${streamError?.message ?? 'the Docker engine answered before the whole archive was sent'}`);
  }

  return {
    /**
     * Replace a data set's contents with an archive's, never destroying the
     * only copy (src/backup/restore-swap.ts): the archive is extracted into a
     * staging directory inside the data set while the old contents stay in
     * place, checked against the manifest on its way (a marker entry ends a
     * stream that matched), and only then swapped in by renames. Each step runs in a helper container mounting the data
     * set (a fixed script, the restore ID as its only variable). A retried
     * attempt finds the directories an earlier one left and finishes from
     * there. The entry's paths come from the project's spec (the workflow
     * checked the manifest against it) and are checked again here.
     */
    async restoreTarget(input: { project: string; backupId: string; operation: string; destination?: string; entry: ArchiveEntry; images: string[] }): Promise<void> {
      const { project } = input;
      const entry = checkedEntry(input.entry, `data set ${input.entry?.key} of backup ${input.backupId} of project ${project}`);
      const what = describeTarget(project, entry);
      const dest = destinationOf(input.destination, project, [input.backupId]);
      const key = `${project}/${input.backupId}/${entry.archive}`;
      if (!(await dest.exists(key))) throw failure(`archive ${entry.archive} of backup ${input.backupId} (${what}) is missing from ${dest.description}`, ErrorType.backupNotFound);
      // Its key (or the refusal of a plain archive) is settled before anything is touched.
      decryptorFor(entry, key);
      await ensureRestoreVolume(entry, what);
      const helper = restoreHelper(project, input.operation, entry, what, input.images);
      try {
        const begun = await helper.run('begin');
        if (begun.output === 'committed') {
          // An earlier attempt verified the staged copy and committed: only the swap is left.
          await helper.run('finish');
          return;
        }
        const staging = `${RESTORE_MOUNT}/${stagingDirName(helper.restoreId)}`;
        try {
          await streamArchiveInto(begun.container, dest, key, entry, staging, what, input.backupId);
        } catch (err) {
          if (err instanceof ApplicationFailure && !err.nonRetryable) throw err;
          if (err instanceof ApplicationFailure) {
            // The archive itself is bad: drop the staging copy; the old contents were never touched.
            await helper.run('finish').catch(() => undefined);
          }
          throw err;
        }
        // The commit step refuses a staging copy without the marker the stream ends with (a daemon
        // that is shutting down can answer the write with success and keep nothing; found by the chaos
        // harness): the retry then extracts again, the old contents untouched.
        await helper.run('commit');
      } finally {
        // Never hides the step's own error; the workflow removes every helper of the operation at the end anyway.
        await helper.remove().catch(() => undefined);
      }
    },

    /**
     * After a restore stopped (failed, cancelled, out of attempts), bring a
     * data set to a whole state: a verified, committed copy is swapped in;
     * an uncommitted staging copy is discarded, leaving the old contents.
     * Returns what it did: finished, discarded or clean.
     */
    async settleRestore(input: { project: string; operation: string; entry: ArchiveEntry; images: string[] }): Promise<string> {
      const entry = checkedEntry(input.entry, `data set ${input.entry?.key} of project ${input.project}`);
      const what = describeTarget(input.project, entry);
      if (entry.kind === 'volume') {
        try {
          await docker.getVolume(entry.source).inspect();
        } catch (err) {
          if (statusOf(err) === 404) return 'clean'; // nothing was ever staged in a volume that does not exist
          throw err;
        }
      }
      const helper = restoreHelper(input.project, input.operation, entry, what, input.images);
      try {
        return (await helper.run('finish')).output;
      } finally {
        await helper.remove();
      }
    },

    /** Remove every helper container of an operation, whatever state an interrupted attempt left it in. */
    async removeHelpers(input: { project: string; operation: string }): Promise<number> {
      const list = await docker.listContainers({ all: true, filters: { label: [`${Label.operation}=${input.operation}`, HELPER_LABEL] } });
      for (const c of list) await removeContainerIfPresent(docker, c.Id);
      return list.length;
    },
  };
}
