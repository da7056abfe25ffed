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
