/**
 * What a host's worker says about its Docker engine when `dockflow hosts`
 * asks (an activity on the host's own task queue: answering it at all shows
 * the worker is alive and reaches its engine).
 */
import type Docker from 'dockerode';
import { Label } from '../src/model/labels';

export interface HostDescription {
  dockerVersion: string;
  /** Projects with containers on this engine (compose's project label), sorted. */
  projects: string[];
}

export function createHostActivities({ docker }: { docker: Docker }) {
  return {
    async describeHost(): Promise<HostDescription> {
      const version = await docker.version();
      const containers = await docker.listContainers({ all: true, filters: { label: [Label.project] } });
      const projects = [...new Set(containers.map((c) => c.Labels?.[Label.project]).filter((p): p is string => Boolean(p)))].sort();
      return { dockerVersion: version.Version, projects };
    },
  };
}
