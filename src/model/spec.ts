/**
 * The resolved stack model: what the compose loader produces and what every
 * workflow receives as input. It is plain JSON (no Dates, no functions) so it
 * can travel through Temporal payloads, and it is canonical: every compose
 * short form has already been expanded, every duration is milliseconds, every
 * relative path is absolute. Two specs that mean the same thing are equal.
 *
 * The zod schemas are the single source of truth: workflows validate their
 * input with them, and the TypeScript types are inferred from them.
 *
 * This module is pure (no Node built-ins) so workflow code may import it.
 */
import { z } from 'zod';
import { ProjectName } from './names';

export const DependsOnCondition = z.enum(['service_started', 'service_healthy', 'service_completed_successfully']);
export type DependsOnCondition = z.infer<typeof DependsOnCondition>;

export const DependencySpec = z.strictObject({
  condition: DependsOnCondition,
  /** Restart this service when the dependency is recreated (compose `restart: true`). */
  restart: z.boolean(),
  /** When false, a missing or disabled dependency is tolerated. */
  required: z.boolean(),
});
export type DependencySpec = z.infer<typeof DependencySpec>;

export const PortSpec = z.strictObject({
  /** Port inside the container. */
  target: z.number().int().min(1).max(65535),
  /** Host port or range ("8000", "8000-8010"); absent = let Docker choose. */
  published: z.string().optional(),
  /** Host address to bind, e.g. "127.0.0.1"; absent = all addresses. */
  hostIp: z.string().optional(),
  protocol: z.enum(['tcp', 'udp', 'sctp']),
});
export type PortSpec = z.infer<typeof PortSpec>;

export const MountSpec = z.strictObject({
  type: z.enum(['volume', 'bind', 'tmpfs']),
  /**
   * volume: the key of the top-level volume (or absent for an anonymous volume);
   * bind: an absolute host path; tmpfs: absent.
   */
  source: z.string().optional(),
  target: z.string(),
  readOnly: z.boolean(),
  /** bind only: create the host directory when missing (compose default true). */
  createHostPath: z.boolean().optional(),
  /** volume only: do not copy image content into a new volume. */
  noCopy: z.boolean().optional(),
  /** tmpfs only. */
  tmpfsSizeBytes: z.number().int().nonnegative().optional(),
  tmpfsMode: z.number().int().optional(),
});
export type MountSpec = z.infer<typeof MountSpec>;

export const HealthcheckSpec = z.strictObject({
  /**
   * Docker's form: ["CMD", ...args] | ["CMD-SHELL", "cmd"] | ["NONE"].
   * Absent with disable=false means "inherit the image's healthcheck" but with
   * the timing overrides below.
   */
  test: z.array(z.string()).optional(),
  intervalMs: z.number().int().nonnegative().optional(),
  timeoutMs: z.number().int().nonnegative().optional(),
  retries: z.number().int().nonnegative().optional(),
  startPeriodMs: z.number().int().nonnegative().optional(),
  startIntervalMs: z.number().int().nonnegative().optional(),
  disable: z.boolean(),
});
export type HealthcheckSpec = z.infer<typeof HealthcheckSpec>;

export const BuildSpec = z.strictObject({
  /** Absolute path of the build context directory. */
  context: z.string(),
  /** Dockerfile path relative to the context (compose default "Dockerfile"). */
  dockerfile: z.string(),
  target: z.string().optional(),
  args: z.record(z.string(), z.string()),
  labels: z.record(z.string(), z.string()).optional(),
});
export type BuildSpec = z.infer<typeof BuildSpec>;

export const ServiceNetworkSpec = z.strictObject({
  aliases: z.array(z.string()),
  ipv4Address: z.string().optional(),
  ipv6Address: z.string().optional(),
});
export type ServiceNetworkSpec = z.infer<typeof ServiceNetworkSpec>;

export const ResourceSpec = z.strictObject({
  /** Fractional CPUs, e.g. 0.5. */
  cpus: z.number().nonnegative().optional(),
  memoryBytes: z.number().int().nonnegative().optional(),
  pids: z.number().int().optional(),
});
export type ResourceSpec = z.infer<typeof ResourceSpec>;

export const UpdateConfigSpec = z.strictObject({
  parallelism: z.number().int().nonnegative().optional(),
  delayMs: z.number().int().nonnegative().optional(),
  failureAction: z.enum(['continue', 'rollback', 'pause']).optional(),
  monitorMs: z.number().int().nonnegative().optional(),
  maxFailureRatio: z.number().min(0).max(1).optional(),
  order: z.enum(['stop-first', 'start-first']).optional(),
});
export type UpdateConfigSpec = z.infer<typeof UpdateConfigSpec>;

export const DeploySpec = z.strictObject({
  replicas: z.number().int().nonnegative(),
  resources: z.strictObject({
    limits: ResourceSpec.optional(),
    reservations: ResourceSpec.optional(),
  }),
  updateConfig: UpdateConfigSpec.optional(),
  rollbackConfig: UpdateConfigSpec.optional(),
  restartPolicy: z
    .strictObject({
      condition: z.enum(['none', 'on-failure', 'any']).optional(),
      maxAttempts: z.number().int().nonnegative().optional(),
    })
    .optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** Swarm placement constraints ("node.hostname == x", "node.labels.k != v"): which dockflow host runs the service. */
  placement: z
    .strictObject({
      constraints: z.array(z.string()),
      /** compose's max_replicas_per_node: at most this many of the service's replicas on one host. */
      maxReplicasPerNode: z.number().int().positive().optional(),
    })
    .optional(),
  /**
   * Only in one host's part of a stack whose replicas of this service spread
   * over several hosts (src/plan/placement.ts): the replica numbers this host
   * runs. Absent everywhere else: the host runs 1..replicas.
   */
  slots: z.array(z.number().int().positive()).optional(),
}).refine((d) => d.slots === undefined || (new Set(d.slots).size === d.slots.length && d.slots.every((n) => n <= d.replicas)), {
  // A spec sent from outside (the UI's Start Workflow) must not name containers past its replicas, or one twice.
  message: 'deploy.slots: distinct replica numbers, each at most deploy.replicas',
  path: ['slots'],
});
export type DeploySpec = z.infer<typeof DeploySpec>;

export const LoggingSpec = z.strictObject({
  driver: z.string().optional(),
  options: z.record(z.string(), z.string()),
});
export type LoggingSpec = z.infer<typeof LoggingSpec>;

export const ServiceSpec = z.strictObject({
  name: z.string(),
  /**
   * Image reference. When the compose file has only `build`, the loader sets
   * compose's default tag `<project>-<service>` so the built image has a name.
   */
  image: z.string(),
  build: BuildSpec.optional(),
  pullPolicy: z.enum(['always', 'missing', 'never', 'build', 'if_not_present']),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  /** Final environment: env_file entries overridden by `environment`, in file order. */
  environment: z.record(z.string(), z.string()),
  ports: z.array(PortSpec),
  /** Container-only ports ("8080", "9000/udp"). */
  expose: z.array(z.string()),
  volumes: z.array(MountSpec),
  /** Service-level `tmpfs:` entries, "path[:options]". */
  tmpfs: z.array(z.string()),
  /** Networks keyed by the top-level network key; default network is "default". */
  networks: z.record(z.string(), ServiceNetworkSpec),
  dependsOn: z.record(z.string(), DependencySpec),
  healthcheck: HealthcheckSpec.optional(),
  restart: z.string(),
  profiles: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  containerName: z.string().optional(),
  hostname: z.string().optional(),
  user: z.string().optional(),
  workingDir: z.string().optional(),
  readOnly: z.boolean(),
  init: z.boolean().optional(),
  capAdd: z.array(z.string()),
  capDrop: z.array(z.string()),
  securityOpt: z.array(z.string()),
  privileged: z.boolean().optional(),
  /** `network_mode`: the host's network, none, or Docker's default bridge instead of project networks. */
  networkMode: z.enum(['host', 'none', 'bridge']).optional(),
  /** `pid: host`. */
  pidMode: z.enum(['host']).optional(),
  /** `ipc`. */
  ipcMode: z.enum(['host', 'private', 'shareable']).optional(),
  logging: LoggingSpec.optional(),
  deploy: DeploySpec,
  stopGracePeriodMs: z.number().int().nonnegative().optional(),
  stopSignal: z.string().optional(),
  /** "host:ip" entries. */
  extraHosts: z.array(z.string()),
  /** `x-*` keys found on the service, kept verbatim. */
  extensions: z.record(z.string(), z.unknown()),
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;

/** Address pools of a network (compose `ipam`), as Docker's IPAM config takes them. */
export const IpamSpec = z.strictObject({
  driver: z.string().optional(),
  config: z.array(
    z.strictObject({
      subnet: z.string().optional(),
      ipRange: z.string().optional(),
      gateway: z.string().optional(),
      auxAddresses: z.record(z.string(), z.string()).optional(),
    }),
  ),
  options: z.record(z.string(), z.string()),
});
export type IpamSpec = z.infer<typeof IpamSpec>;

export const NetworkSpec = z.strictObject({
  /** Docker name: `name:` or `<project>_<key>`; for external networks the name to look up. */
  name: z.string(),
  external: z.boolean(),
  driver: z.string().optional(),
  driverOpts: z.record(z.string(), z.string()),
  internal: z.boolean(),
  attachable: z.boolean().optional(),
  enableIpv6: z.boolean().optional(),
  /** Fixed subnets: also the way out when the engine's default address pools run out. */
  ipam: IpamSpec.optional(),
  labels: z.record(z.string(), z.string()),
});
export type NetworkSpec = z.infer<typeof NetworkSpec>;

export const VolumeSpec = z.strictObject({
  /** Docker name: `name:` or `<project>_<key>`; for external volumes the name to look up. */
  name: z.string(),
  external: z.boolean(),
  driver: z.string().optional(),
  driverOpts: z.record(z.string(), z.string()),
  labels: z.record(z.string(), z.string()),
});
export type VolumeSpec = z.infer<typeof VolumeSpec>;

export const StackSpec = z.strictObject({
  /** Normalised project name (lowercase, [a-z0-9_-], starts with a letter or digit). */
  project: ProjectName,
  /** Absolute project directory (relative paths in the compose files resolve against it). */
  workingDir: z.string(),
  /** Compose files the spec was loaded from, absolute, in merge order. */
  composeFiles: z.array(z.string()),
  /** Enabled services only: profile filtering has already happened. */
  services: z.record(z.string(), ServiceSpec),
  networks: z.record(z.string(), NetworkSpec),
  volumes: z.record(z.string(), VolumeSpec),
  /** Top-level `x-*` keys, kept verbatim. */
  extensions: z.record(z.string(), z.unknown()),
});
export type StackSpec = z.infer<typeof StackSpec>;
