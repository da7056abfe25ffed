/**
 * Label keys. Compose's own keys make `docker compose ps/logs` work on a
 * dockflow stack; `io.dockflow.*` carry dockflow's own facts. Observation finds
 * resources by these labels only: anything without them is never touched.
 */
export const Label = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  containerNumber: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  composeConfigHash: 'com.docker.compose.config-hash',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  dependsOn: 'com.docker.compose.depends_on',
  image: 'com.docker.compose.image',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  composeVersion: 'com.docker.compose.version',

  managedBy: 'io.dockflow.managed-by',
  configHash: 'io.dockflow.config-hash',
  operation: 'io.dockflow.operation',
  /** Set on a container created to replace another one, until it takes the canonical name. */
  replaces: 'io.dockflow.replaces',
} as const;

/** Value of io.dockflow.managed-by on everything dockflow creates. */
export const MANAGED_BY = 'dockflow';

/**
 * A container `docker compose` (v1 or v2) started: compose's config-hash
 * label, not a one-off, and none of the labels dockflow puts on every
 * container it creates (an image may carry other io.dockflow.* labels, which
 * its containers inherit). Its name is compose's (`proj_web_1` for v1,
 * `proj-web-1` for v2, or container_name); dockflow takes it over by
 * replacing it like a changed container.
 */
export function isStartedByCompose(labels: Record<string, string> | undefined): boolean {
  if (!labels || labels[Label.composeConfigHash] === undefined) return false;
  if ((labels[Label.oneoff] ?? 'False').toLowerCase() === 'true') return false;
  return labels[Label.managedBy] === undefined && labels[Label.configHash] === undefined;
}

/** The plan's cause for replacing a container docker compose started. */
export const STARTED_BY_COMPOSE = 'started by docker compose';
