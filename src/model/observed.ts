/**
 * What `observe` reports about a project on the host, found by label filters
 * only. Plain JSON: it travels from an activity to the workflow.
 */
export interface ObservedContainer {
  id: string;
  /** Name without Docker's leading "/". */
  name: string;
  service: string;
  /** com.docker.compose.container-number; 0 when absent or unreadable. */
  number: number;
  oneoff: boolean;
  configHash: string | undefined;
  imageId: string;
  state: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | string;
  /** Docker health status when the container has a healthcheck. */
  health: 'starting' | 'healthy' | 'unhealthy' | undefined;
  exitCode: number | undefined;
  /** io.dockflow.replaces: the canonical name this container is meant to take over. */
  replaces: string | undefined;
  /** Started by docker compose, not dockflow (isStartedByCompose); absent in observations recorded before take-over existed. */
  startedByCompose?: boolean;
}

export interface ObservedNetwork {
  key: string | undefined;
  name: string;
  id: string;
}

export interface ObservedVolume {
  key: string | undefined;
  name: string;
}

export interface ObservedProject {
  project: string;
  containers: ObservedContainer[];
  networks: ObservedNetwork[];
  volumes: ObservedVolume[];
  /**
   * Resources the stack claims by name that exist but belong to another
   * project or to none (src/plan/ownership.ts). Absent when nothing was
   * claimed (and in observations recorded before the check existed).
   */
  foreign?: ForeignResource[];
}

/** A name the stack needs for itself (see src/plan/ownership.ts). */
export interface Claim {
  /** Docker name of the resource. */
  name: string;
  /** Where the name comes from in the compose file, e.g. "services.db.container_name". */
  key: string;
}

/** A claimed name found on the host on a resource that is not the project's. */
export interface ForeignResource extends Claim {
  kind: 'container' | 'network' | 'volume';
  /** The compose project label of the resource found; absent when it has none. */
  owner?: string;
}

export function emptyObservation(project: string): ObservedProject {
  return { project, containers: [], networks: [], volumes: [] };
}
