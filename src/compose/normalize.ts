/**
 * Normalisation phase: the merged, validated document becomes the canonical
 * StackSpec for the enabled services.
 *
 * Invariants of the output (see src/model/spec.ts): durations in ms, sizes
 * in bytes, host paths absolute ("~" expanded), short syntaxes expanded,
 * defaults written out (restart "no", replicas 1, pull policy, network
 * `default`), so two files that mean the same thing give equal specs.
 * Cross-references are checked here, against the enabled services only (as
 * compose does after applying profiles): named volumes and networks must be
 * declared top-level. Networks and volumes no enabled service uses are left
 * out, as compose leaves them out; the implicit `default` network is added
 * when a service is on it and it is not declared.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DependencySpec, HealthcheckSpec, MountSpec, NetworkSpec, ResourceSpec, ServiceSpec, StackSpec, UpdateConfigSpec, VolumeSpec } from '../model/spec';
import { DotEnvError, parseDotEnvDetailed } from './dotenv';
import type { Lookup } from './interpolate';
import type { Path, Provenance } from './paths';
import { impossibleSpecProblems } from '../model/feasibility';
import type { RawNetwork, RawProject, RawService, RawVolume } from './schema';

export interface NormalizeContext {
  project: string;
  workingDir: string;
  composeFiles: string[];
  homeDir: string;
  /** The interpolation environment: process environment over the .env file. */
  lookup: Lookup;
  provenance: Provenance;
  warnings: string[];
  /** How a host file is named in messages. */
  display: (file: string) => string;
  /** `x-*` keys of the merged document: top level, and per service. */
  extensions: { top: Record<string, unknown>; services: Record<string, Record<string, unknown>> };
}

/** An absolute host path: "~" is the home directory, relative paths are from the project directory. */
export function hostPath(p: string, ctx: Pick<NormalizeContext, 'homeDir' | 'workingDir'>): string {
  if (p === '~' || p.startsWith('~/')) return path.join(ctx.homeDir, p.slice(1));
  return path.resolve(ctx.workingDir, p);
}

const isRemoteContext = (context: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(context) || /^git@/.test(context) || /^github\.com\//.test(context);

export function normalize(raw: RawProject, enabled: readonly string[], ctx: NormalizeContext): StackSpec {
  const declaredNetworks = raw.networks ?? {};
  const declaredVolumes = raw.volumes ?? {};
  const services: Record<string, ServiceSpec> = {};
  for (const name of enabled) services[name] = normalizeService(name, raw.services?.[name] ?? {}, ctx, declaredVolumes, declaredNetworks);

  const usedNetworks = new Set(Object.values(services).flatMap((s) => Object.keys(s.networks)));
  const usedVolumes = new Set(Object.values(services).flatMap((s) => s.volumes.filter((m) => m.type === 'volume' && m.source).map((m) => m.source as string)));
  const networks: Record<string, NetworkSpec> = {};
  for (const [key, def] of Object.entries(declaredNetworks)) if (usedNetworks.has(key)) networks[key] = normalizeNetwork(key, def ?? {}, ctx);
  if (usedNetworks.has('default') && !networks.default) {
    networks.default = { name: `${ctx.project}_default`, external: false, driverOpts: {}, internal: false, labels: {} };
  }
  const volumes: Record<string, VolumeSpec> = {};
  for (const [key, def] of Object.entries(declaredVolumes)) if (usedVolumes.has(key)) volumes[key] = normalizeVolume(key, def ?? {}, ctx);

  const spec: StackSpec = {
    project: ctx.project,
    workingDir: ctx.workingDir,
    composeFiles: ctx.composeFiles,
    services,
    networks,
    volumes,
    extensions: ctx.extensions.top,
  };
  // Container names Docker could never give out (two services, one container_name).
  const [impossible] = impossibleSpecProblems(spec);
  if (impossible) throw ctx.provenance.error(impossible.path, impossible.message);
  return spec;
}

function externalOf(kind: 'networks' | 'volumes', key: string, def: RawNetwork | RawVolume, ctx: NormalizeContext): { external: boolean; name: string } {
  const at: Path = [kind, key];
  let external = false;
  let legacyName: string | undefined;
  if (typeof def.external === 'object') {
    external = true;
    legacyName = def.external.name;
    const { file } = ctx.provenance.locate([...at, 'external', 'name']);
    const note = `${kind}.${key}.external.name is deprecated: write name: ${legacyName} and external: true`;
    ctx.warnings.push(file ? `${file}: ${note}` : note);
    if (def.name !== undefined && def.name !== legacyName) {
      throw ctx.provenance.error([...at, 'name'], `name ${JSON.stringify(def.name)} and external.name ${JSON.stringify(legacyName)} disagree`);
    }
  } else external = def.external ?? false;

  if (external) {
    // An external resource is created by someone else; settings for creating it would be ignored.
    for (const setting of ['driver', 'driver_opts', 'ipam', 'internal', 'attachable', 'enable_ipv6', 'labels'] as const) {
      if ((def as Record<string, unknown>)[setting] !== undefined) {
        throw ctx.provenance.error([...at, setting], `cannot be set on an external ${kind === 'networks' ? 'network' : 'volume'}: dockflow does not create it`);
      }
    }
  }
  return { external, name: def.name ?? legacyName ?? (external ? key : `${ctx.project}_${key}`) };
}

function normalizeNetwork(key: string, def: RawNetwork, ctx: NormalizeContext): NetworkSpec {
  const { external, name } = externalOf('networks', key, def, ctx);
  return {
    name,
    external,
    ...(def.driver !== undefined ? { driver: def.driver } : {}),
    driverOpts: def.driver_opts ?? {},
    internal: def.internal ?? false,
    ...(def.attachable !== undefined ? { attachable: def.attachable } : {}),
    ...(def.enable_ipv6 !== undefined ? { enableIpv6: def.enable_ipv6 } : {}),
    ...(def.ipam !== undefined
      ? {
          ipam: {
            ...(def.ipam.driver !== undefined ? { driver: def.ipam.driver } : {}),
            config: (def.ipam.config ?? []).map((pool) => ({
              ...(pool.subnet !== undefined ? { subnet: pool.subnet } : {}),
              ...(pool.ip_range !== undefined ? { ipRange: pool.ip_range } : {}),
              ...(pool.gateway !== undefined ? { gateway: pool.gateway } : {}),
              ...(pool.aux_addresses !== undefined ? { auxAddresses: pool.aux_addresses } : {}),
            })),
            options: def.ipam.options ?? {},
          },
        }
      : {}),
    labels: def.labels ?? {},
  };
}

function normalizeVolume(key: string, def: RawVolume, ctx: NormalizeContext): VolumeSpec {
  const { external, name } = externalOf('volumes', key, def, ctx);
  return { name, external, ...(def.driver !== undefined ? { driver: def.driver } : {}), driverOpts: def.driver_opts ?? {}, labels: def.labels ?? {} };
}

function normalizeService(
  name: string,
  s: RawService,
  ctx: NormalizeContext,
  declaredVolumes: Record<string, unknown>,
  declaredNetworks: Record<string, unknown>,
): ServiceSpec {
  const at = (...parts: Path): Path => ['services', name, ...parts];
  const fail = (where: Path, reason: string): never => {
    throw ctx.provenance.error(where, reason);
  };

  if (s.image === undefined && s.build === undefined) fail(at(), 'service has neither an image nor a build context specified');
  let build: ServiceSpec['build'];
  if (s.build) {
    const context = s.build.context ?? '.';
    if (isRemoteContext(context)) fail(at('build', 'context'), `remote build context ${JSON.stringify(context)} is not supported by dockflow: clone it and build from a directory`);
    const args: Record<string, string> = {};
    for (const [key, value] of Object.entries(s.build.args ?? {})) {
      // A bare arg takes its value from the environment, like a bare environment entry.
      const resolved = value ?? ctx.lookup(key);
      if (resolved !== undefined) args[key] = resolved;
    }
    build = {
      context: hostPath(context, ctx),
      dockerfile: s.build.dockerfile ?? 'Dockerfile',
      ...(s.build.target !== undefined ? { target: s.build.target } : {}),
      args,
      ...(s.build.labels !== undefined ? { labels: s.build.labels } : {}),
    };
  }
  const pullPolicy = s.pull_policy ?? (s.build && s.image === undefined ? 'build' : 'missing');
  if (pullPolicy === 'build' && !s.build) fail(at('pull_policy'), 'pull_policy: build needs a build: section');

  const environment = serviceEnvironment(s, at, ctx);

  const volumes: MountSpec[] = (s.volumes ?? []).map((mount, i) => {
    if (mount.type === 'bind') return { ...mount, source: hostPath(mount.source as string, ctx) };
    if (mount.type === 'volume' && mount.source !== undefined && !(mount.source in declaredVolumes)) {
      fail(at('volumes', i), `service ${name} refers to undefined volume ${mount.source}: declare it under the top-level volumes:`);
    }
    return mount;
  });

  const networks: ServiceSpec['networks'] = {};
  if (s.network_mode !== undefined) {
    // compose: a service in another network mode joins no project network.
    if (s.networks !== undefined) fail(at('network_mode'), `service ${name} sets both network_mode and networks: a container in network_mode ${s.network_mode} joins no project network`);
    if (s.network_mode !== 'bridge' && (s.ports ?? []).length > 0) {
      fail(at('ports'), `service ${name} publishes ports with network_mode ${s.network_mode}: ${s.network_mode === 'host' ? 'it listens on the host\'s ports directly' : 'it has no network'}; remove ports`);
    }
  }
  for (const [key, def] of Object.entries(s.network_mode !== undefined ? {} : (s.networks ?? { default: null }))) {
    if (key !== 'default' && !(key in declaredNetworks)) fail(at('networks', key), `service ${name} refers to undefined network ${key}: declare it under the top-level networks:`);
    networks[key] = {
      aliases: def?.aliases ?? [],
      ...(def?.ipv4_address !== undefined ? { ipv4Address: def.ipv4_address } : {}),
      ...(def?.ipv6_address !== undefined ? { ipv6Address: def.ipv6_address } : {}),
    };
  }

  const dependsOn: Record<string, DependencySpec> = {};
  for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
    dependsOn[dep] = { condition: d?.condition ?? 'service_started', restart: d?.restart ?? false, required: d?.required ?? true };
  }

  let healthcheck: HealthcheckSpec | undefined;
  if (s.healthcheck) {
    const h = s.healthcheck;
    if (h.disable === true || h.test?.[0] === 'NONE') healthcheck = { disable: true };
    else {
      healthcheck = {
        ...(h.test !== undefined ? { test: h.test } : {}),
        ...(h.interval !== undefined ? { intervalMs: h.interval } : {}),
        ...(h.timeout !== undefined ? { timeoutMs: h.timeout } : {}),
        ...(h.retries !== undefined ? { retries: h.retries } : {}),
        ...(h.start_period !== undefined ? { startPeriodMs: h.start_period } : {}),
        ...(h.start_interval !== undefined ? { startIntervalMs: h.start_interval } : {}),
        disable: false,
      };
    }
  }

  const deploy = s.deploy ?? {};
  if (s.scale !== undefined && deploy.replicas !== undefined && s.scale !== deploy.replicas) {
    fail(at('scale'), `scale (${s.scale}) and deploy.replicas (${deploy.replicas}) disagree: set one of them`);
  }
  const replicas = deploy.replicas ?? s.scale ?? 1;
  if (s.container_name !== undefined && replicas > 1) {
    fail(at('container_name'), `container_name ${s.container_name} cannot be used with ${replicas} replicas: container names must be unique`);
  }
  const resources = (r: { cpus?: number; memory?: number; pids?: number } | undefined): ResourceSpec | undefined =>
    r && {
      ...(r.cpus !== undefined ? { cpus: r.cpus } : {}),
      ...(r.memory !== undefined ? { memoryBytes: r.memory } : {}),
      ...(r.pids !== undefined ? { pids: r.pids } : {}),
    };
  const update = (u: NonNullable<typeof deploy.update_config> | undefined): UpdateConfigSpec | undefined =>
    u && {
      ...(u.parallelism !== undefined ? { parallelism: u.parallelism } : {}),
      ...(u.delay !== undefined ? { delayMs: u.delay } : {}),
      ...(u.failure_action !== undefined ? { failureAction: u.failure_action } : {}),
      ...(u.monitor !== undefined ? { monitorMs: u.monitor } : {}),
      ...(u.max_failure_ratio !== undefined ? { maxFailureRatio: u.max_failure_ratio } : {}),
      ...(u.order !== undefined ? { order: u.order } : {}),
    };
  const limits = resources(deploy.resources?.limits);
  const reservations = resources(deploy.resources?.reservations);
  const updateConfig = update(deploy.update_config);
  const rollbackConfig = update(deploy.rollback_config);
  const restartPolicy = deploy.restart_policy && {
    ...(deploy.restart_policy.condition !== undefined ? { condition: deploy.restart_policy.condition } : {}),
    ...(deploy.restart_policy.max_attempts !== undefined ? { maxAttempts: deploy.restart_policy.max_attempts } : {}),
  };

  return {
    name,
    image: s.image ?? `${ctx.project}-${name.toLowerCase()}`,
    ...(build ? { build } : {}),
    pullPolicy,
    ...(s.command != null ? { command: s.command } : {}),
    ...(s.entrypoint != null ? { entrypoint: s.entrypoint } : {}),
    environment,
    ports: uniqueBy((s.ports ?? []).flat(), (p) => `${p.hostIp ?? ''}|${p.published ?? ''}|${p.target}|${p.protocol}`),
    expose: s.expose ?? [],
    volumes,
    tmpfs: s.tmpfs ?? [],
    networks,
    dependsOn,
    ...(healthcheck ? { healthcheck } : {}),
    restart: s.restart ?? 'no',
    profiles: s.profiles ?? [],
    labels: s.labels ?? {},
    ...(s.container_name !== undefined ? { containerName: s.container_name } : {}),
    ...(s.hostname !== undefined ? { hostname: s.hostname } : {}),
    ...(s.user !== undefined ? { user: s.user } : {}),
    ...(s.working_dir !== undefined ? { workingDir: s.working_dir } : {}),
    readOnly: s.read_only ?? false,
    ...(s.init !== undefined ? { init: s.init } : {}),
    capAdd: s.cap_add ?? [],
    capDrop: s.cap_drop ?? [],
    securityOpt: s.security_opt ?? [],
    ...(s.privileged !== undefined ? { privileged: s.privileged } : {}),
    ...(s.network_mode !== undefined ? { networkMode: s.network_mode } : {}),
    ...(s.pid !== undefined ? { pidMode: s.pid } : {}),
    ...(s.ipc !== undefined ? { ipcMode: s.ipc } : {}),
    ...(s.logging ? { logging: { ...(s.logging.driver !== undefined ? { driver: s.logging.driver } : {}), options: s.logging.options ?? {} } } : {}),
    deploy: {
      replicas,
      resources: { ...(limits ? { limits } : {}), ...(reservations ? { reservations } : {}) },
      ...(updateConfig ? { updateConfig } : {}),
      ...(rollbackConfig ? { rollbackConfig } : {}),
      ...(restartPolicy ? { restartPolicy } : {}),
      ...(deploy.labels ? { labels: deploy.labels } : {}),
      // Only when written, so every spec (and stored input) without it stays as it was.
      ...(deploy.placement?.constraints?.length || deploy.placement?.max_replicas_per_node !== undefined
        ? {
            placement: {
              constraints: deploy.placement.constraints ?? [],
              ...(deploy.placement.max_replicas_per_node !== undefined ? { maxReplicasPerNode: deploy.placement.max_replicas_per_node } : {}),
            },
          }
        : {}),
    },
    ...(s.stop_grace_period !== undefined ? { stopGracePeriodMs: s.stop_grace_period } : {}),
    ...(s.stop_signal !== undefined ? { stopSignal: s.stop_signal } : {}),
    extraHosts: Object.entries(s.extra_hosts ?? {}).map(([host, ip]) => `${host}:${ip}`),
    extensions: ctx.extensions.services[name] ?? {},
  };
}

/** env_file entries in order, each over the previous, then `environment` over them all. */
function serviceEnvironment(s: RawService, at: (...parts: Path) => Path, ctx: NormalizeContext): Record<string, string> {
  const environment: Record<string, string> = {};
  (s.env_file ?? []).forEach((entry, i) => {
    const file = hostPath(entry.path, ctx);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(file, { throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR, ENAMETOOLONG, EACCES: the path cannot name a readable file.
      throw ctx.provenance.error(at('env_file', i), `cannot read env file ${file}: ${(err as Error).message}`);
    }
    if (!stat) {
      if (entry.required) throw ctx.provenance.error(at('env_file', i), `env file ${file} not found`);
      return;
    }
    // Only a regular file: a device such as /dev/zero or a FIFO would be read forever, a directory not at all.
    if (!stat.isFile()) throw ctx.provenance.error(at('env_file', i), `env file ${file} is not a regular file`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw ctx.provenance.error(at('env_file', i), `cannot read env file ${file}: ${(err as Error).message}`);
    }
    try {
      const { values, missing } = parseDotEnvDetailed(text, ctx.lookup);
      for (const variable of missing) ctx.warnings.push(`${ctx.display(file)}: the "${variable}" variable is not set; defaulting to a blank string`);
      Object.assign(environment, values);
    } catch (err) {
      if (!(err instanceof DotEnvError)) throw err;
      throw ctx.provenance.error(at('env_file', i), `${file}: ${err.message}`);
    }
  });
  for (const [key, value] of Object.entries(s.environment ?? {})) {
    // A bare KEY (or KEY: null) passes the variable through from the environment, and is left out when unset there.
    // compose drops an unresolved bare KEY before the merge over env_file, so an env_file value survives.
    const resolved = value ?? ctx.lookup(key);
    if (resolved !== undefined) environment[key] = resolved;
  }
  return environment;
}

/** The short and long syntaxes can spell the same binding twice; Docker would refuse the second. */
function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
