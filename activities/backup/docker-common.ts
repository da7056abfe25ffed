/**
 * Docker helpers shared by the backup activities (activities/backup/*).
 *
 * Kept in one file so that the shared Docker helper module of the
 * activities/docker.ts split can replace it in one place: until then the
 * error helpers are re-exported from activities/docker.ts, and the two
 * helpers below are the backup side's copies of the ones its closure holds.
 */
import type Docker from 'dockerode';
import { messageOf, statusOf } from '../docker';

export { demuxLogs, messageOf, statusOf } from '../docker';

/** `State.StartedAt` of a container that never started. */
export const NOT_STARTED = '0001-01-01T00:00:00Z';

/** A container's inspect, or undefined when there is none under that name or ID. */
export async function inspectOrUndefined(docker: Docker, nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(nameOrId).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Remove a container, running or not; one already gone (or being removed) is fine. */
export async function removeContainerIfPresent(docker: Docker, nameOrId: string): Promise<void> {
  try {
    await docker.getContainer(nameOrId).remove({ force: true });
  } catch (err) {
    if (statusOf(err) !== 404 && !/already in progress/i.test(messageOf(err))) throw err;
  }
}
