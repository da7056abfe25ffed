/**
 * Anonymous volumes across recreates, as compose handles them: a replacement
 * container mounts its predecessor's anonymous volumes (image `VOLUME`s and
 * `volumes: ["/data"]` entries) by name, so the data in them survives a
 * config change, an update, a rollback or a wedge repair. Opting out
 * (`--renew-anon-volumes`) gives the replacement fresh volumes and removes
 * the old ones with the old container. The decision itself is pure
 * (`inheritedAnonymousVolumes` in src/docker/container-config.ts); these
 * helpers only read the old container and the image, and remove volumes.
 */
import type Docker from 'dockerode';
import type { ServiceSpec } from '../src/model/spec';
import { Label } from '../src/model/labels';
import { inheritedAnonymousVolumes, isAnonymousVolumeName, type ContainerMount, type InheritedVolume } from '../src/docker/container-config';

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

/** The container paths the image declares with `VOLUME`. */
export async function imageVolumeTargets(docker: Docker, imageId: string): Promise<string[]> {
  try {
    const info = await docker.getImage(imageId).inspect();
    return Object.keys(info.Config?.Volumes ?? {}).sort();
  } catch (err) {
    // No image, no VOLUME paths; the create that follows reports the missing image itself.
    if (statusOf(err) === 404) return [];
    throw err;
  }
}

/**
 * What the replacement of `oldContainer` (ID or name) takes over: the old
 * container's anonymous volumes at the paths where the new container would
 * get fresh ones (see `inheritedAnonymousVolumes`). Works for any old
 * container, dockflow's or one compose started; none when it is gone.
 */
export async function inheritAnonymousVolumes(docker: Docker, service: ServiceSpec, imageId: string, oldContainer: string): Promise<InheritedVolume[]> {
  let old: Docker.ContainerInspectInfo;
  try {
    old = await docker.getContainer(oldContainer).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return [];
    throw err;
  }
  return inheritedAnonymousVolumes(service, await imageVolumeTargets(docker, imageId), old.Mounts as ContainerMount[]);
}

/** Names of the anonymous volumes a container mounts (from inspect or list). */
export function anonymousVolumesOf(container: { Mounts?: ContainerMount[] }): string[] {
  return [...new Set((container.Mounts ?? []).filter((m) => m.Type === 'volume' && isAnonymousVolumeName(m.Name)).map((m) => m.Name as string))].sort();
}

/**
 * Remove anonymous volumes whose containers were removed. Docker refuses to
 * remove a volume any container still mounts (409), which is what keeps a
 * volume a replacement has taken over: that refusal is skipped, not an
 * error. A volume carrying a compose project label is a named volume after
 * all and is left alone. Returns the names removed.
 */
export async function removeAnonymousVolumes(docker: Docker, names: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    if (!isAnonymousVolumeName(name)) continue;
    try {
      const info = await docker.getVolume(name).inspect();
      if (info.Labels?.[Label.project] !== undefined) continue;
      await docker.getVolume(name).remove();
      removed.push(name);
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }
  return removed;
}
