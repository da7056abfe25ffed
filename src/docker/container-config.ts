/**
 * Pure builders: turn the canonical spec into the Docker Engine API's create
 * bodies. They return plain data and are unit-tested by asserting that data;
 * the activities only send it.
 */
import type { ContainerCreateOptions } from 'dockerode';
import type { IpamSpec, MountSpec, ServiceSpec, StackSpec } from '../model/spec';
import { Label, MANAGED_BY } from '../model/labels';

const MS_TO_NS = 1_000_000;

export interface ContainerIdentity {
  project: string;
  service: string;
  number: number;
  configHash: string;
  imageId: string;
  /** Workflow ID of the operation that created the container. */
  operation: string;
}

export function containerLabels(spec: StackSpec, service: ServiceSpec, id: ContainerIdentity): Record<string, string> {
  return {
    // deploy.labels belong to the service, not its containers (compose spec; compose 1.29 and v2 alike).
    ...service.labels,
    [Label.project]: spec.project,
    [Label.service]: service.name,
    [Label.containerNumber]: String(id.number),
    [Label.oneoff]: 'False',
    [Label.composeConfigHash]: id.configHash,
    [Label.workingDir]: spec.workingDir,
    [Label.configFiles]: spec.composeFiles.join(','),
    [Label.image]: service.image,
    [Label.dependsOn]: Object.entries(service.dependsOn)
      .map(([dep, d]) => `${dep}:${d.condition}:${d.restart}`)
      .join(','),
    [Label.managedBy]: MANAGED_BY,
    [Label.configHash]: id.configHash,
    [Label.operation]: id.operation,
  };
}

/**
 * Docker's API before 1.44 attaches only one network at create time; the
 * others are connected before the container starts (see `extraNetworks`).
 */
export function primaryNetwork(service: ServiceSpec): string | undefined {
  return Object.keys(service.networks).sort()[0];
}

export function networkAliases(service: ServiceSpec, key: string): string[] {
  return [service.name, ...(service.networks[key]?.aliases ?? [])];
}

export interface NetworkAttachment {
  /** Docker network name. */
  network: string;
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

/**
 * With `withAliases` false the container joins its networks reachable only by
 * its own name: a start-first replacement must not receive the service's
 * traffic before it is healthy.
 */
export function networkAttachments(spec: StackSpec, service: ServiceSpec, withAliases = true): NetworkAttachment[] {
  return Object.keys(service.networks)
    .sort()
    .map((key) => {
      const n = service.networks[key];
      return {
        network: spec.networks[key]?.name ?? key,
        aliases: withAliases ? networkAliases(service, key) : [],
        ...(n.ipv4Address ? { ipv4Address: n.ipv4Address } : {}),
        ...(n.ipv6Address ? { ipv6Address: n.ipv6Address } : {}),
      };
    });
}

function endpointConfig(a: NetworkAttachment) {
  const ipam = a.ipv4Address || a.ipv6Address ? { IPAMConfig: { IPv4Address: a.ipv4Address, IPv6Address: a.ipv6Address } } : {};
  return { Aliases: a.aliases, ...ipam };
}

export function bindsAndVolumes(spec: StackSpec, mounts: MountSpec[]) {
  const binds: string[] = [];
  const anonymous: Record<string, object> = {};
  const tmpfs: Record<string, string> = {};
  for (const m of mounts) {
    if (m.type === 'tmpfs') {
      const opts = [m.tmpfsSizeBytes !== undefined ? `size=${m.tmpfsSizeBytes}` : '', m.tmpfsMode !== undefined ? `mode=${m.tmpfsMode.toString(8)}` : '']
        .filter(Boolean)
        .join(',');
      tmpfs[m.target] = opts;
      continue;
    }
    if (m.type === 'volume' && m.source === undefined) {
      anonymous[m.target] = {};
      continue;
    }
    const source = m.type === 'volume' ? (spec.volumes[m.source as string]?.name ?? (m.source as string)) : (m.source as string);
    const flags = [m.readOnly ? 'ro' : 'rw', m.noCopy ? 'nocopy' : ''].filter(Boolean).join(',');
    binds.push(`${source}:${m.target}:${flags}`);
  }
  return { binds, anonymous, tmpfs };
}

/** A mount of an existing container, as Docker's container inspect reports it (`Mounts[]`). */
export interface ContainerMount {
  Type: string;
  /** The volume's name, for `volume` mounts. */
  Name?: string;
  Source?: string;
  Destination: string;
  RW?: boolean;
}

/** A volume the new container mounts by name where its predecessor had it. */
export interface InheritedVolume {
  volume: string;
  target: string;
  readOnly: boolean;
}

/**
 * Docker names an anonymous volume with 64 random hex digits; every volume a
 * person or compose names (`<project>_<key>`, external ones) has a chosen
 * name. The name stays the same when a volume is carried from container to
 * container, so this tells anonymous volumes apart at any generation.
 */
export function isAnonymousVolumeName(name: string | undefined): name is string {
  return name !== undefined && /^[0-9a-f]{64}$/.test(name);
}

function cleanPath(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/**
 * Anonymous volumes a replacement container takes over from the container it
 * replaces, as compose does on every recreate: at each path where the new
 * container would otherwise get a fresh, empty anonymous volume (a `VOLUME`
 * of its image, or an anonymous entry `volumes: ["/data"]` of the service),
 * it mounts the old container's anonymous volume by name instead. A path the
 * new spec covers with a named volume, a bind or a tmpfs gets what the spec
 * says: the spec wins. Only anonymous volumes are carried: a named volume
 * dropped from the compose file stays dropped. Sorted by target.
 */
export function inheritedAnonymousVolumes(service: ServiceSpec, imageVolumes: string[], oldMounts: ContainerMount[]): InheritedVolume[] {
  const anonymousEntries = new Map(
    service.volumes.filter((m) => m.type === 'volume' && m.source === undefined).map((m) => [cleanPath(m.target), m] as const),
  );
  const covered = new Set([
    ...service.volumes.filter((m) => !(m.type === 'volume' && m.source === undefined)).map((m) => cleanPath(m.target)),
    ...service.tmpfs.map((t) => cleanPath(t.split(':')[0])),
  ]);
  const wanted = new Set([...imageVolumes.map(cleanPath), ...anonymousEntries.keys()]);
  const inherited: InheritedVolume[] = [];
  for (const m of oldMounts) {
    const target = cleanPath(m.Destination);
    if (m.Type !== 'volume' || !isAnonymousVolumeName(m.Name)) continue;
    if (!wanted.has(target) || covered.has(target)) continue;
    inherited.push({ volume: m.Name, target, readOnly: anonymousEntries.get(target)?.readOnly ?? false });
  }
  return inherited.sort((a, b) => a.target.localeCompare(b.target));
}

/**
 * For a container recreated as an identical copy (a wedged one, see
 * activities/wedge.ts): binds that keep every volume it mounted without one
 * (image `VOLUME`s, anonymous entries), so the copy mounts the same volumes
 * instead of fresh empty ones. Paths its binds or mounts already name are
 * left to them. Sorted by target.
 */
export function bindsKeepingVolumes(existingTargets: string[], mounts: ContainerMount[]): string[] {
  const named = new Set(existingTargets.map(cleanPath));
  return mounts
    .filter((m) => m.Type === 'volume' && m.Name && !named.has(cleanPath(m.Destination)))
    .sort((a, b) => a.Destination.localeCompare(b.Destination))
    .map((m) => `${m.Name}:${cleanPath(m.Destination)}:${m.RW === false ? 'ro' : 'rw'}`);
}

/** The container paths of `Binds` entries ("source:target[:flags]"). */
export function bindTargets(binds: string[]): string[] {
  return binds.map((b) => b.split(':')[1]).filter((t): t is string => Boolean(t));
}

const DEPLOY_RESTART_CONDITION = { none: 'no', any: 'always', 'on-failure': 'on-failure' } as const;

/**
 * Docker's restart policy. `deploy.restart_policy`, when written, wins over
 * `restart` (compose 1.29 and v2 both apply it; its condition defaults to
 * `any`). `restart: "no"` is sent as no policy (""), as compose sends an
 * absent `restart`: the spec writes that default out as "no", and Docker
 * treats both names alike.
 */
export function restartPolicyConfig(service: ServiceSpec): { Name: string; MaximumRetryCount?: number } {
  const fromDeploy = service.deploy.restartPolicy;
  if (fromDeploy) {
    const name = DEPLOY_RESTART_CONDITION[fromDeploy.condition ?? 'any'];
    // Docker refuses a retry count with any other policy than on-failure.
    return name === 'on-failure' ? { Name: name, MaximumRetryCount: fromDeploy.maxAttempts ?? 0 } : { Name: name };
  }
  const [name, count] = service.restart.split(':');
  if (name === 'on-failure' && count !== undefined) return { Name: name, MaximumRetryCount: Number(count) };
  return { Name: name === 'no' ? '' : name };
}

/** A list option only when it has entries: compose leaves empty ones out, so `docker inspect` shows null for both. */
function listOption<K extends string>(key: K, values: string[]): Partial<Record<K, string[]>> {
  return values.length > 0 ? ({ [key]: values } as Record<K, string[]>) : {};
}

export function healthcheckConfig(service: ServiceSpec): ContainerCreateOptions['Healthcheck'] | undefined {
  const hc = service.healthcheck;
  if (!hc) return undefined;
  if (hc.disable) return { Test: ['NONE'] };
  return {
    ...(hc.test ? { Test: hc.test } : {}),
    ...(hc.intervalMs !== undefined ? { Interval: hc.intervalMs * MS_TO_NS } : {}),
    ...(hc.timeoutMs !== undefined ? { Timeout: hc.timeoutMs * MS_TO_NS } : {}),
    ...(hc.retries !== undefined ? { Retries: hc.retries } : {}),
    ...(hc.startPeriodMs !== undefined ? { StartPeriod: hc.startPeriodMs * MS_TO_NS } : {}),
  };
}

/**
 * The full create body for one container of a service. `inherited`: the
 * anonymous volumes it takes over from the container it replaces
 * (`inheritedAnonymousVolumes`).
 */
export function containerCreateOptions(
  spec: StackSpec,
  service: ServiceSpec,
  id: ContainerIdentity,
  name: string,
  withAliases = true,
  inherited: InheritedVolume[] = [],
): ContainerCreateOptions {
  const ports = service.ports;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp?: string; HostPort?: string }[]> = {};
  for (const p of ports) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.hostIp ?? '', HostPort: p.published ?? '' });
  }
  for (const e of service.expose) {
    exposed[e.includes('/') ? e : `${e}/tcp`] = {};
  }
  const { binds, anonymous, tmpfs } = bindsAndVolumes(spec, service.volumes);
  for (const v of inherited) {
    // The inherited volume replaces the fresh anonymous one Docker would create at that path.
    for (const key of Object.keys(anonymous)) if (cleanPath(key) === v.target) delete anonymous[key];
    binds.push(`${v.volume}:${v.target}:${v.readOnly ? 'ro' : 'rw'}`);
  }
  for (const t of service.tmpfs) {
    const [path, ...opts] = t.split(':');
    tmpfs[path] = opts.join(':');
  }
  const attachments = networkAttachments(spec, service, withAliases);
  const primary = attachments[0];
  const limits = service.deploy.resources.limits;
  const reservations = service.deploy.resources.reservations;

  const options: ContainerCreateOptions = {
    name,
    Image: id.imageId,
    Labels: containerLabels(spec, service, id),
    Env: Object.entries(service.environment).map(([k, v]) => `${k}=${v}`),
    ...(service.command ? { Cmd: service.command } : {}),
    ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
    ...(service.user !== undefined ? { User: service.user } : {}),
    ...(service.workingDir !== undefined ? { WorkingDir: service.workingDir } : {}),
    ...(service.hostname !== undefined ? { Hostname: service.hostname } : {}),
    ...(service.stopSignal !== undefined ? { StopSignal: service.stopSignal } : {}),
    ...(service.stopGracePeriodMs !== undefined ? { StopTimeout: Math.ceil(service.stopGracePeriodMs / 1000) } : {}),
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(anonymous).length ? { Volumes: anonymous } : {}),
    ...(healthcheckConfig(service) ? { Healthcheck: healthcheckConfig(service) } : {}),
    HostConfig: {
      Binds: binds,
      PortBindings: bindings,
      ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}),
      RestartPolicy: restartPolicyConfig(service),
      ReadonlyRootfs: service.readOnly,
      ...(service.init !== undefined ? { Init: service.init } : {}),
      ...listOption('CapAdd', service.capAdd),
      ...listOption('CapDrop', service.capDrop),
      ...listOption('SecurityOpt', service.securityOpt),
      ...(service.privileged !== undefined ? { Privileged: service.privileged } : {}),
      ...(service.pidMode !== undefined ? { PidMode: service.pidMode } : {}),
      ...(service.ipcMode !== undefined ? { IpcMode: service.ipcMode } : {}),
      ...listOption('ExtraHosts', service.extraHosts),
      ...(service.logging ? { LogConfig: { Type: service.logging.driver ?? 'json-file', Config: service.logging.options } } : {}),
      ...(limits?.cpus !== undefined ? { NanoCpus: Math.round(limits.cpus * 1e9) } : {}),
      ...(limits?.memoryBytes !== undefined ? { Memory: limits.memoryBytes } : {}),
      ...(limits?.pids !== undefined ? { PidsLimit: limits.pids } : {}),
      ...(reservations?.memoryBytes !== undefined ? { MemoryReservation: reservations.memoryBytes } : {}),
      ...(service.networkMode !== undefined ? { NetworkMode: service.networkMode } : primary ? { NetworkMode: primary.network } : {}),
    },
    ...(primary ? { NetworkingConfig: { EndpointsConfig: { [primary.network]: endpointConfig(primary) } } } : {}),
  };
  return options;
}

/** Networks to connect after create, before start (all but the primary). */
export function extraNetworks(spec: StackSpec, service: ServiceSpec, withAliases = true): NetworkAttachment[] {
  return networkAttachments(spec, service, withAliases).slice(1);
}

export function endpointConfigFor(a: NetworkAttachment) {
  return endpointConfig(a);
}

/** Docker's IPAM body for a network's compose `ipam` (pure; `ensureNetworksAndVolumes` creates the network). */
export function networkIpam(ipam: IpamSpec) {
  return {
    Driver: ipam.driver ?? 'default',
    Config: ipam.config.map((pool) => ({
      ...(pool.subnet ? { Subnet: pool.subnet } : {}),
      ...(pool.ipRange ? { IPRange: pool.ipRange } : {}),
      ...(pool.gateway ? { Gateway: pool.gateway } : {}),
      ...(pool.auxAddresses ? { AuxiliaryAddresses: pool.auxAddresses } : {}),
    })),
    // No options: none sent (compose sends none; Docker then shows null, not {}).
    ...(Object.keys(ipam.options).length > 0 ? { Options: ipam.options } : {}),
  };
}

/**
 * The create body of a project volume. Driver options only when the file
 * gives some: compose sends none otherwise, and Docker then shows null, not {}.
 */
export function volumeCreateOptions(spec: StackSpec, key: string) {
  const v = spec.volumes[key];
  return {
    Name: v.name,
    Driver: v.driver ?? 'local',
    ...(Object.keys(v.driverOpts).length > 0 ? { DriverOpts: v.driverOpts } : {}),
    Labels: { ...v.labels, [Label.project]: spec.project, [Label.volume]: key, [Label.managedBy]: MANAGED_BY },
  };
}
