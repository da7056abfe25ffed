/**
 * Docker helpers the backup activities (activities/backup/*) share with the
 * deploy side: one definition each, in activities/docker/shared.ts, plus the
 * one helper only backups need.
 */
import type Docker from 'dockerode';
import { messageOf, statusOf } from '../docker/shared';

export { demuxLogs, inspectOrUndefined, messageOf, NOT_STARTED, statusOf } from '../docker/shared';

/** Remove a container, running or not; one already gone (or being removed) is fine. */
export async function removeContainerIfPresent(docker: Docker, nameOrId: string): Promise<void> {
  try {
    await docker.getContainer(nameOrId).remove({ force: true });
  } catch (err) {
    if (statusOf(err) !== 404 && !/already in progress/i.test(messageOf(err))) throw err;
  }
}
