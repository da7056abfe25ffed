/**
 * Normalisation phase: the merged, validated document becomes the canonical
 * StackSpec. Short syntaxes are expanded, durations become milliseconds,
 * paths become absolute, defaults are applied, and cross-references
 * (volumes, networks, depends_on) are checked.
 */
import * as path from 'node:path';
import type { DependencySpec, HealthcheckSpec, MountSpec, NetworkSpec, PortSpec, ServiceSpec, StackSpec, UpdateConfigSpec, VolumeSpec } from '../model/spec';
import { ComposeError } from './errors';
import { parseDotEnv } from './dotenv';
import type { RawNetwork, RawProject, RawService, RawVolume } from './schema';
import { listToMap } from './merge';
import { splitShellWords } from './shellwords';
import { parseBytes, parseDuration } from './units';
import * as fs from 'node:fs';

export interface NormalizeContext {
  project: string;
  workingDir: string;
  composeFiles: string[];
  /** Where errors point: the file(s) the merged document came from. */
  origin: string;
  homeDir: string;
  lookup: (name: string) => string | undefined;
  serviceExtensions: Record<string, Record<string, unknown>>;
  networkExtensions: Record<string, Record<string, unknown>>;
  volumeExtensions: Record<string, Record<string, unknown>>;
  topExtensions: Record<string, unknown>;
}

export function normalize(raw: RawProject, ctx: NormalizeContext): StackSpec {
  const fail = (p: string, message: string): never => {
    throw new ComposeError(message, ctx.origin, p);
  };
  const volumes: Record<string, VolumeSpec> = {};
  for (const [key, v] of Object.entries(raw.volumes ?? {})) volumes[key] = normalizeVolume(key, v ?? {}, ctx);
  const networks: Record<string, NetworkSpec> = {};
  for (const [key, n] of Object.entries(raw.networks ?? {})) networks[key] = normalizeNetwork(key, n ?? {}, ctx);

  const services: Record<string, ServiceSpec> = {};
  for (const [name, s] of Object.entries(raw.services ?? {})) {
    services[name] = normalizeService(name, s ?? {}, ctx, volumes, networks, fail);
  }
  for (const s of Object.values(services)) {
    if (s.networks.default && !networks.default) {
      networks.default = { name: `${ctx.project}_default`, external: false, driverOpts: {}, internal: false, labels: {} };
    }
    for (const key of Object.keys(s.networks)) {
      if (!networks[key]) fail(`services.${s.name}.networks.${key}`, `service ${s.name} refers to undefined network ${key}`);
    }
  }
  return { project: ctx.project, workingDir: ctx.workingDir, composeFiles: ctx.composeFiles, services, networks, volumes, extensions: ctx.topExtensions };
}

function stringMap(value: unknown): Record<string, string> {
  const map = listToMap(value ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) out[k] = v === null || v === undefined ? '' : String(v);
  return out;
}

function externalOf(ext: RawNetwork['external']): { external: boolean; name?: string } {
  if (ext === undefined) return { external: false };
  if (typeof ext === 'object') return { external: true, name: ext.name };
  return { external: ext };
}

function normalizeNetwork(key: string, n: RawNetwork, ctx: NormalizeContext): NetworkSpec {
  const ext = externalOf(n.external);
  const name = n.name ?? ext.name ?? (ext.external ? key : `${ctx.project}_${key}`);
  return {
    name,
    external: ext.external,
    ...(n.driver ? { driver: n.driver } : {}),
    driverOpts: stringMap(n.driver_opts),
    internal: n.internal ?? false,
    ...(n.attachable !== undefined ? { attachable: n.attachable } : {}),
    ...(n.enable_ipv6 !== undefined ? { enableIpv6: n.enable_ipv6 } : {}),
    labels: stringMap(n.labels),
  };
}

function normalizeVolume(key: string, v: RawVolume, ctx: NormalizeContext): VolumeSpec {
  const ext = externalOf(v.external);
  const name = v.name ?? ext.name ?? (ext.external ? key : `${ctx.project}_${key}`);
  return { name, external: ext.external, ...(v.driver ? { driver: v.driver } : {}), driverOpts: stringMap(v.driver_opts), labels: stringMap(v.labels) };
}

function resolveHostPath(p: string, ctx: NormalizeContext): string {
  if (p === '~' || p.startsWith('~/')) return path.join(ctx.homeDir, p.slice(1));
  return path.resolve(ctx.workingDir, p);
}

const isHostPath = (source: string) => source.startsWith('/') || source.startsWith('.') || source.startsWith('~');

function normalizeService(
  name: string,
  s: RawService,
  ctx: NormalizeContext,
  volumes: Record<string, VolumeSpec>,
  networks: Record<string, NetworkSpec>,
  fail: (p: string, message: string) => never,
): ServiceSpec {
  const at = (key: string) => `services.${name}.${key}`;
  // A unit parser whose errors name the key they came from.
  const checked =
    (parse: (value: string | number) => number) =>
    (key: string, value: string | number | undefined): number | undefined => {
      if (value === undefined) return undefined;
      try {
        return parse(value);
      } catch (err) {
        return fail(at(key), (err as Error).message);
      }
    };
  const dur = checked(parseDuration);
  const bytes = checked(parseBytes);

  const build = typeof s.build === 'string' ? { context: s.build } : s.build;
  if (!s.image && !build) fail(`services.${name}`, 'service has neither an image nor a build context specified');

  // env_file first, then `environment` over it; a bare key takes its value from the environment.
  const environment: Record<string, string> = {};
  const envFiles = s.env_file === undefined ? [] : typeof s.env_file === 'string' ? [s.env_file] : s.env_file;
  envFiles.forEach((entry, i) => {
    const file = typeof entry === 'string' ? entry : entry.path;
    const required = typeof entry === 'string' ? true : entry.required !== false;
    const full = path.resolve(ctx.workingDir, file);
    if (!fs.existsSync(full)) {
      if (required) fail(`${at('env_file')}[${i}]`, `env file ${full} not found`);
      return;
    }
    try {
      Object.assign(environment, parseDotEnv(fs.readFileSync(full, 'utf8'), ctx.lookup));
    } catch (err) {
      fail(`${at('env_file')}[${i}]`, `${full}: ${(err as Error).message}`);
    }
  });
  for (const [k, v] of Object.entries((listToMap(s.environment ?? {}) as Record<string, unknown>) ?? {})) {
    if (v === null || v === undefined) {
      const inherited = ctx.lookup(k);
      if (inherited !== undefined) environment[k] = inherited;
    } else environment[k] = String(v);
  }

  const ports: PortSpec[] = [];
  (s.ports ?? []).forEach((p, i) => {
    try {
      ports.push(...parsePort(p));
    } catch (err) {
      fail(`${at('ports')}[${i}]`, (err as Error).message);
    }
  });

  const mounts: MountSpec[] = [];
  (s.volumes ?? []).forEach((v, i) => {
    const where = `${at('volumes')}[${i}]`;
    const mount = typeof v === 'string' ? parseShortVolume(v, where, fail) : longVolume(v, where, bytes);
    if (mount.type === 'bind') mount.source = resolveHostPath(mount.source as string, ctx);
    if (mount.type === 'volume' && mount.source !== undefined && !volumes[mount.source]) {
      fail(where, `service ${name} refers to undefined volume ${mount.source}: declare it under the top-level volumes:`);
    }
    mounts.push(mount);
  });

  const serviceNetworks: ServiceSpec['networks'] = {};
  const rawNetworks = Array.isArray(s.networks) ? Object.fromEntries(s.networks.map((n) => [n, null])) : (s.networks ?? { default: null });
  for (const [key, def] of Object.entries(rawNetworks)) {
    if (key !== 'default' && !networks[key]) fail(`${at('networks')}.${key}`, `service ${name} refers to undefined network ${key}`);
    serviceNetworks[key] = {
      aliases: def?.aliases ?? [],
      ...(def?.ipv4_address ? { ipv4Address: def.ipv4_address } : {}),
      ...(def?.ipv6_address ? { ipv6Address: def.ipv6_address } : {}),
    };
  }

  const dependsOn: Record<string, DependencySpec> = {};
  type RawDependency = { condition?: DependencySpec['condition']; restart?: boolean; required?: boolean };
  const rawDeps: Record<string, RawDependency> = Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, {}])) : (s.depends_on ?? {});
  for (const [dep, d] of Object.entries(rawDeps)) {
    dependsOn[dep] = { condition: d.condition ?? 'service_started', restart: d.restart ?? false, required: d.required ?? true };
  }

  let healthcheck: HealthcheckSpec | undefined;
  if (s.healthcheck) {
    const h = s.healthcheck;
    const test = h.test === undefined ? undefined : typeof h.test === 'string' ? ['CMD-SHELL', h.test] : h.test;
    if (test && !['CMD', 'CMD-SHELL', 'NONE'].includes(test[0])) fail(at('healthcheck.test'), 'a test list starts with CMD, CMD-SHELL or NONE');
    const disable = h.disable === true || test?.[0] === 'NONE';
    healthcheck = disable
      ? { disable: true }
      : {
          ...(test ? { test } : {}),
          ...(h.interval !== undefined ? { intervalMs: dur('healthcheck.interval', h.interval) } : {}),
          ...(h.timeout !== undefined ? { timeoutMs: dur('healthcheck.timeout', h.timeout) } : {}),
          ...(h.retries !== undefined ? { retries: h.retries } : {}),
          ...(h.start_period !== undefined ? { startPeriodMs: dur('healthcheck.start_period', h.start_period) } : {}),
          ...(h.start_interval !== undefined ? { startIntervalMs: dur('healthcheck.start_interval', h.start_interval) } : {}),
          disable: false,
        };
  }

  const deploy = s.deploy ?? {};
  if (s.scale !== undefined && deploy.replicas !== undefined && s.scale !== deploy.replicas) {
    fail(at('scale'), `scale (${s.scale}) and deploy.replicas (${deploy.replicas}) disagree`);
  }
  const replicas = deploy.replicas ?? s.scale ?? 1;
  if (s.container_name && replicas > 1) fail(at('container_name'), `container_name ${s.container_name} cannot be used with ${replicas} replicas: names must be unique`);
  const resources = (r: { cpus?: string | number; memory?: string | number; pids?: number } | undefined, key: string) =>
    r && {
      ...(r.cpus !== undefined ? { cpus: Number(r.cpus) } : {}),
      ...(r.memory !== undefined ? { memoryBytes: bytes(`${key}.memory`, r.memory) } : {}),
      ...(r.pids !== undefined ? { pids: r.pids } : {}),
    };
  const updateConfig = (u: typeof deploy.update_config, key: string): UpdateConfigSpec | undefined =>
    u && {
      ...(u.parallelism !== undefined ? { parallelism: u.parallelism } : {}),
      ...(u.delay !== undefined ? { delayMs: dur(`${key}.delay`, u.delay) } : {}),
      ...(u.failure_action ? { failureAction: u.failure_action } : {}),
      ...(u.monitor !== undefined ? { monitorMs: dur(`${key}.monitor`, u.monitor) } : {}),
      ...(u.max_failure_ratio !== undefined ? { maxFailureRatio: u.max_failure_ratio } : {}),
      ...(u.order ? { order: u.order } : {}),
    };
  const limits = resources(deploy.resources?.limits, 'deploy.resources.limits');
  const reservations = resources(deploy.resources?.reservations, 'deploy.resources.reservations');
  const update = updateConfig(deploy.update_config, 'deploy.update_config');
  const rollback = updateConfig(deploy.rollback_config, 'deploy.rollback_config');

  const commandOf = (value: string | string[] | null | undefined, key: string): string[] | undefined => {
    if (value === undefined || value === null) return undefined;
    if (Array.isArray(value)) return value;
    try {
      return splitShellWords(value);
    } catch (err) {
      return fail(at(key), (err as Error).message);
    }
  };
  const command = commandOf(s.command, 'command');
  const entrypoint = commandOf(s.entrypoint, 'entrypoint');

  return {
    name,
    image: s.image ?? `${ctx.project}-${name}`,
    ...(build
      ? {
          build: {
            context: resolveHostPath(build.context ?? '.', ctx),
            dockerfile: build.dockerfile ?? 'Dockerfile',
            ...(build.target ? { target: build.target } : {}),
            args: stringMap(build.args),
            ...(build.labels ? { labels: stringMap(build.labels) } : {}),
          },
        }
      : {}),
    pullPolicy: s.pull_policy ?? (build && !s.image ? 'build' : 'missing'),
    ...(command ? { command } : {}),
    ...(entrypoint ? { entrypoint } : {}),
    environment,
    ports,
    expose: (s.expose ?? []).map(String),
    volumes: mounts,
    tmpfs: s.tmpfs === undefined ? [] : typeof s.tmpfs === 'string' ? [s.tmpfs] : s.tmpfs,
    networks: serviceNetworks,
    dependsOn,
    ...(healthcheck ? { healthcheck } : {}),
    restart: s.restart ?? 'no',
    profiles: s.profiles ?? [],
    labels: stringMap(s.labels),
    ...(s.container_name ? { containerName: s.container_name } : {}),
    ...(s.hostname ? { hostname: s.hostname } : {}),
    ...(s.user !== undefined ? { user: String(s.user) } : {}),
    ...(s.working_dir ? { workingDir: s.working_dir } : {}),
    readOnly: s.read_only ?? false,
    ...(s.init !== undefined ? { init: s.init } : {}),
    capAdd: s.cap_add ?? [],
    capDrop: s.cap_drop ?? [],
    securityOpt: s.security_opt ?? [],
    ...(s.logging ? { logging: { ...(s.logging.driver ? { driver: s.logging.driver } : {}), options: stringMap(s.logging.options) } } : {}),
    deploy: {
      replicas,
      resources: { ...(limits ? { limits } : {}), ...(reservations ? { reservations } : {}) },
      ...(update ? { updateConfig: update } : {}),
      ...(rollback ? { rollbackConfig: rollback } : {}),
      ...(deploy.restart_policy
        ? {
            restartPolicy: {
              ...(deploy.restart_policy.condition ? { condition: deploy.restart_policy.condition } : {}),
              ...(deploy.restart_policy.max_attempts !== undefined ? { maxAttempts: deploy.restart_policy.max_attempts } : {}),
            },
          }
        : {}),
      ...(deploy.labels ? { labels: stringMap(deploy.labels) } : {}),
    },
    ...(s.stop_grace_period !== undefined ? { stopGracePeriodMs: dur('stop_grace_period', s.stop_grace_period) } : {}),
    ...(s.stop_signal ? { stopSignal: s.stop_signal } : {}),
    extraHosts: Object.entries(stringMap(s.extra_hosts)).map(([host, ip]) => `${host}:${ip}`),
    extensions: ctx.serviceExtensions[name] ?? {},
  };
}

/** Short port syntax: "8080", "8000:8000", "127.0.0.1:8000:8000", "127.0.0.1::8000", "[::1]:80:80", ranges, "/udp". */
export function parsePort(p: string | number | { target: number; published?: string | number; host_ip?: string; protocol?: 'tcp' | 'udp' | 'sctp' }): PortSpec[] {
  if (typeof p === 'object') {
    return [{ target: p.target, ...(p.published !== undefined ? { published: String(p.published) } : {}), ...(p.host_ip ? { hostIp: p.host_ip } : {}), protocol: p.protocol ?? 'tcp' }];
  }
  const text = String(p);
  const [spec, protoRaw] = text.split('/');
  const protocol = (protoRaw ?? 'tcp') as PortSpec['protocol'];
  if (!['tcp', 'udp', 'sctp'].includes(protocol)) throw new Error(`invalid protocol in port "${text}"`);
  let hostIp: string | undefined;
  let rest = spec;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1];
    rest = v6[2];
  }
  const parts = rest.split(':');
  let published: string | undefined;
  let target: string;
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) [published, target] = parts;
  else if (parts.length === 3 && !v6) [hostIp, published, target] = parts;
  else throw new Error(`invalid port "${text}"`);
  const range = (r: string) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) throw new Error(`invalid port "${text}"`);
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    if (from < 1 || to > 65535 || to < from) throw new Error(`invalid port "${text}"`);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  };
  const targets = range(target);
  const publishedPorts = published ? range(published) : undefined;
  if (publishedPorts && publishedPorts.length !== targets.length && publishedPorts.length !== 1) throw new Error(`port ranges of different sizes in "${text}"`);
  return targets.map((t, i) => ({
    target: t,
    ...(publishedPorts ? { published: String(publishedPorts.length === 1 ? publishedPorts[0] : publishedPorts[i]) } : {}),
    ...(hostIp ? { hostIp } : {}),
    protocol,
  }));
}

function parseShortVolume(text: string, where: string, fail: (p: string, m: string) => never): MountSpec {
  const parts = text.split(':');
  if (parts.length === 1) return { type: 'volume', target: parts[0], readOnly: false };
  if (parts.length > 3) fail(where, `invalid volume "${text}"`);
  const [source, target, mode = 'rw'] = parts;
  const flags = mode.split(',');
  const known = ['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
  const unknown = flags.find((f) => !known.includes(f));
  if (unknown) fail(where, `unknown volume mode "${unknown}" in "${text}"`);
  if (!target.startsWith('/')) fail(where, `container path "${target}" in "${text}" must be absolute`);
  const readOnly = flags.includes('ro');
  if (isHostPath(source)) return { type: 'bind', source, target, readOnly, createHostPath: true };
  return { type: 'volume', source, target, readOnly, ...(flags.includes('nocopy') ? { noCopy: true } : {}) };
}

function longVolume(
  v: { type: 'volume' | 'bind' | 'tmpfs'; source?: string; target: string; read_only?: boolean; bind?: { create_host_path?: boolean }; volume?: { nocopy?: boolean }; tmpfs?: { size?: string | number; mode?: string | number } },
  where: string,
  bytes: (key: string, value: string | number | undefined) => number | undefined,
): MountSpec {
  if (v.type === 'tmpfs') {
    const size = v.tmpfs?.size !== undefined ? bytes(`${where}.tmpfs.size`, v.tmpfs.size) : undefined;
    const mode = v.tmpfs?.mode !== undefined ? (typeof v.tmpfs.mode === 'number' ? v.tmpfs.mode : parseInt(v.tmpfs.mode, 8)) : undefined;
    return { type: 'tmpfs', target: v.target, readOnly: v.read_only ?? false, ...(size !== undefined ? { tmpfsSizeBytes: size } : {}), ...(mode !== undefined ? { tmpfsMode: mode } : {}) };
  }
  if (v.type === 'bind') {
    if (!v.source) throw new ComposeError('a bind mount needs a source', undefined, where);
    return { type: 'bind', source: v.source, target: v.target, readOnly: v.read_only ?? false, createHostPath: v.bind?.create_host_path ?? true };
  }
  return { type: 'volume', ...(v.source ? { source: v.source } : {}), target: v.target, readOnly: v.read_only ?? false, ...(v.volume?.nocopy ? { noCopy: true } : {}) };
}
