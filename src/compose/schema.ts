/**
 * Validation phase: the shape of a compose document as dockflow accepts it.
 *
 * It runs on every file on its own, before the merge, so that a problem is
 * reported against the file that has it, and once more on the merged
 * document, whose decoded output the normalisation works from.
 *
 * Invariants:
 * - Every mapping is strict: a key dockflow does not implement is an error
 *   ("not supported by dockflow"), never silently dropped. `x-*` keys are
 *   allowed in every compose mapping (not in user maps such as environment)
 *   and are ignored here; index.ts keeps the top-level and service ones.
 * - Leaves decode as they validate: durations become milliseconds, sizes
 *   bytes, port strings PortSpecs, short volumes MountSpecs, KEY=VALUE lists
 *   maps. Interpolated values are strings, so numbers and booleans are also
 *   accepted in their string form (`replicas: ${N:-2}`), as compose does.
 * - Leaf errors say what was expected and what was found (leaves.ts); the
 *   path comes from zod and the file from the caller's Provenance.
 */
import { z } from 'zod';
import type { MountSpec, PortSpec } from '../model/spec';
import type { Path, Provenance } from './paths';
import { checkExpose, parsePort } from './ports';
import { checkTarget, parseShortVolume } from './volumes';
import { bool, bytes, commandLine, decimal, duration, integer, isString, isStringOrNumber, keyValues, leaf, list, mapping, matching, oneOf, scalarText, show, str, stringList, stringMap } from './leaves';

type Issue = z.core.$ZodIssue;

const PROFILE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const RESTART = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;

const port = z.union([
  leaf('a port such as "8080" or "127.0.0.1:8000:80"', isStringOrNumber, (v: string | number): PortSpec[] => parsePort(v)),
  mapping({
    target: integer(1, 65535),
    published: leaf('a port or range', isStringOrNumber, (v: string | number) => String(v)).optional(),
    host_ip: str.optional(),
    protocol: oneOf(['tcp', 'udp', 'sctp']).optional(),
    // Swarm's ingress mode does not exist on one engine; both modes publish on the host.
    mode: oneOf(['host', 'ingress']).optional(),
  }).transform((p, ctx): PortSpec[] => {
    try {
      return parsePort({ ...p, mode: undefined });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, continue: true });
      return z.NEVER;
    }
  }),
]);

/** tmpfs `mode` is octal, as written (`1777`), whether YAML read it as a number or a string. */
const octalMode = leaf('an octal mode such as 1777', isStringOrNumber, (v: string | number) => {
  const text = String(v).replace(/^0o/, '');
  if (!/^[0-7]+$/.test(text)) throw new Error(`expected an octal mode such as 1777, got ${show(v)}`);
  return parseInt(text, 8);
});

const longVolume = mapping({
  type: oneOf(['volume', 'bind', 'tmpfs']),
  source: str.optional(),
  target: str,
  read_only: bool.optional(),
  bind: mapping({ create_host_path: bool.optional() }).optional(),
  volume: mapping({ nocopy: bool.optional() }).optional(),
  tmpfs: mapping({ size: bytes.optional(), mode: octalMode.optional() }).optional(),
}).transform((v, ctx): MountSpec => {
  const fail = (message: string, path: Path = []) => {
    ctx.addIssue({ code: 'custom', message, path: [...path], continue: true });
    return z.NEVER;
  };
  let target: string;
  try {
    target = checkTarget(v.target, v.target);
  } catch {
    return fail(`the container path ${JSON.stringify(v.target)} must be absolute`, ['target']);
  }
  for (const key of ['bind', 'volume', 'tmpfs'] as const) {
    if (v[key] !== undefined && key !== v.type) return fail(`"${key}" options are only for type: ${key}`, [key]);
  }
  const readOnly = v.read_only ?? false;
  if (v.type === 'tmpfs') {
    if (v.source !== undefined) return fail('a tmpfs mount has no source', ['source']);
    return {
      type: 'tmpfs',
      target,
      readOnly,
      ...(v.tmpfs?.size !== undefined ? { tmpfsSizeBytes: v.tmpfs.size } : {}),
      ...(v.tmpfs?.mode !== undefined ? { tmpfsMode: v.tmpfs.mode } : {}),
    };
  }
  if (v.type === 'bind') {
    if (!v.source) return fail('a bind mount needs a source', ['source']);
    // compose-go defaults create_host_path to true only when a `bind:` block is written.
    return { type: 'bind', source: v.source, target, readOnly, createHostPath: v.bind?.create_host_path ?? v.bind !== undefined };
  }
  return { type: 'volume', ...(v.source ? { source: v.source } : {}), target, readOnly, ...(v.volume?.nocopy ? { noCopy: true } : {}) };
});

const serviceVolume = z.union([leaf('a volume such as "data:/data"', isString, (v: string): MountSpec => parseShortVolume(v)), longVolume]);

const extraHosts = z
  .union([
    list(
      leaf('a "host:ip" string', isString, (v: string) => {
        // The first separator splits: IPv6 addresses contain colons.
        const m = /^([^:=\s]+)[:=](.+)$/.exec(v);
        if (!m) throw new Error(`invalid extra host ${JSON.stringify(v)} (expected "host:ip" or "host=ip")`);
        return [m[1], m[2]] as const;
      }),
    ),
    z.record(z.string(), str),
  ])
  .transform((v): Record<string, string> => (Array.isArray(v) ? Object.fromEntries(v) : v));

const resources = mapping({ cpus: decimal(0).optional(), memory: bytes.optional(), pids: integer(-1).optional() });

const updateConfig = mapping({
  parallelism: integer(0).optional(),
  delay: duration.optional(),
  failure_action: oneOf(['continue', 'rollback', 'pause']).optional(),
  monitor: duration.optional(),
  max_failure_ratio: decimal(0, 1).optional(),
  order: oneOf(['stop-first', 'start-first']).optional(),
});

const dependency = mapping({
  condition: oneOf(['service_started', 'service_healthy', 'service_completed_successfully']).optional(),
  restart: bool.optional(),
  required: bool.optional(),
});

const healthcheck = mapping({
  test: z.union([leaf('a string', isString, (v: string) => ['CMD-SHELL', v]), list(str)]).optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  retries: integer(0).optional(),
  start_period: duration.optional(),
  start_interval: duration.optional(),
  disable: bool.optional(),
}).superRefine((h, ctx) => {
  if (h.test && !['CMD', 'CMD-SHELL', 'NONE'].includes(h.test[0])) {
    ctx.addIssue({ code: 'custom', message: `a test list starts with CMD, CMD-SHELL or NONE, got ${show(h.test[0] ?? '[]')}`, path: ['test'] });
  } else if (h.disable && h.test && h.test[0] !== 'NONE') {
    ctx.addIssue({ code: 'custom', message: 'disable: true and a test cannot be used together', path: ['disable'] });
  }
});

const envFile = z
  .union([str, list(z.union([str, mapping({ path: str, required: bool.optional() })]))])
  .transform((v) => (Array.isArray(v) ? v : [v]).map((e) => (typeof e === 'string' ? { path: e, required: true } : { path: e.path, required: e.required ?? true })));

export const RawService = mapping({
  image: str.optional(),
  build: z
    .union([
      str.transform((context) => ({ context }) as { context?: string; dockerfile?: string; target?: string; args?: Record<string, string | null>; labels?: Record<string, string> }),
      mapping({ context: str.optional(), dockerfile: str.optional(), target: str.optional(), args: keyValues.optional(), labels: stringMap.optional() }),
    ])
    .optional(),
  pull_policy: oneOf(['always', 'missing', 'never', 'build', 'if_not_present']).optional(),
  command: commandLine.optional(),
  entrypoint: commandLine.optional(),
  environment: keyValues.optional(),
  env_file: envFile.optional(),
  ports: list(port).optional(),
  expose: list(leaf('a port such as "8080"', isStringOrNumber, (v: string | number) => checkExpose(v))).optional(),
  volumes: list(serviceVolume).optional(),
  tmpfs: z.union([str.transform((v) => [v]), stringList]).optional(),
  networks: z
    .union([
      list(str).transform((names) => Object.fromEntries(names.map((n) => [n, null]))),
      z.record(z.string(), mapping({ aliases: stringList.optional(), ipv4_address: str.optional(), ipv6_address: str.optional() }).nullable()),
    ])
    .optional(),
  depends_on: z
    .union([
      list(str).transform((names): Record<string, z.output<typeof dependency> | null> => Object.fromEntries(names.map((n) => [n, {}]))),
      z.record(z.string(), dependency.nullable()),
    ])
    .optional(),
  healthcheck: healthcheck.optional(),
  restart: matching(RESTART, 'restart policy', 'expected no, always, unless-stopped, on-failure or on-failure:N').optional(),
  profiles: list(matching(PROFILE, 'profile name')).optional(),
  labels: stringMap.optional(),
  container_name: matching(CONTAINER_NAME, 'container name').optional(),
  hostname: str.optional(),
  user: scalarText.optional(),
  working_dir: str.optional(),
  read_only: bool.optional(),
  init: bool.optional(),
  cap_add: stringList.optional(),
  cap_drop: stringList.optional(),
  security_opt: stringList.optional(),
  privileged: bool.optional(),
  // Only the host's (or the container's own) namespaces: another service's or
  // container's (`service:x`, `container:x`) would tie replacement order to it.
  network_mode: oneOf(['host', 'none', 'bridge']).optional(),
  pid: oneOf(['host']).optional(),
  ipc: oneOf(['host', 'private', 'shareable']).optional(),
  logging: mapping({ driver: str.optional(), options: stringMap.optional() }).optional(),
  deploy: mapping({
    // The only mode there is on one engine; `global` would need a swarm.
    mode: oneOf(['replicated']).optional(),
    replicas: integer(0).optional(),
    resources: mapping({ limits: resources.optional(), reservations: resources.optional() }).optional(),
    update_config: updateConfig.optional(),
    rollback_config: updateConfig.optional(),
    restart_policy: mapping({ condition: oneOf(['none', 'on-failure', 'any']).optional(), max_attempts: integer(0).optional() }).optional(),
    labels: stringMap.optional(),
    // Swarm's placement, honoured across dockflow hosts (src/plan/placement.ts); preferences have
    // no meaning yet and stay refused.
    placement: mapping({ constraints: list(str).optional(), max_replicas_per_node: integer(1).optional() }).optional(),
  }).optional(),
  scale: integer(0).optional(),
  stop_grace_period: duration.optional(),
  stop_signal: str.optional(),
  extra_hosts: extraHosts.optional(),
});
export type RawService = z.output<typeof RawService>;

const external = z.union([bool, mapping({ name: str })]);

const ipamPool = mapping({
  subnet: str.optional(),
  ip_range: str.optional(),
  gateway: str.optional(),
  aux_addresses: stringMap.optional(),
});

export const RawNetwork = mapping({
  name: str.optional(),
  external: external.optional(),
  driver: str.optional(),
  driver_opts: stringMap.optional(),
  ipam: mapping({ driver: str.optional(), config: list(ipamPool).optional(), options: stringMap.optional() }).optional(),
  internal: bool.optional(),
  attachable: bool.optional(),
  enable_ipv6: bool.optional(),
  labels: stringMap.optional(),
});
export type RawNetwork = z.output<typeof RawNetwork>;

export const RawVolume = mapping({
  name: str.optional(),
  external: external.optional(),
  driver: str.optional(),
  driver_opts: stringMap.optional(),
  labels: stringMap.optional(),
});
export type RawVolume = z.output<typeof RawVolume>;

const KEY = /^[a-zA-Z0-9._-]+$/;
const section = <T extends z.ZodType>(what: string, entry: T) =>
  z.record(z.string().regex(KEY, `invalid ${what} name: use letters, digits, ".", "_" and "-"`), entry.nullable()).nullable();

export const RawProject = mapping({
  version: leaf('a string', isStringOrNumber, (v: string | number) => String(v)).optional(),
  name: scalarText.optional(),
  services: section('service', RawService).optional(),
  networks: section('network', RawNetwork).optional(),
  volumes: section('volume', RawVolume).optional(),
});
export type RawProject = z.output<typeof RawProject>;

/**
 * Validate (and decode) a document; the first problem becomes a
 * ComposeError naming the file and key path, through `provenance`.
 */
export function validateDocument(doc: Record<string, unknown>, provenance: Provenance): RawProject {
  const result = RawProject.safeParse(doc);
  if (result.success) return result.data;
  const issue = pickIssue(result.error.issues);
  const { path, reason } = describe(issue, doc);
  throw provenance.error(path, reason);
}

/** Unions report every branch; keep the branch that matched the value's type. */
function flatten(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const branches = issue.errors as Issue[][];
  const typeMismatch = (i: Issue) => i.path.length === 0 && i.code === 'invalid_type';
  const matched = branches.filter((b) => b.length > 0 && !b.every(typeMismatch));
  if (matched.length === 0) return [issue];
  return matched[0].flatMap((inner) => flatten({ ...inner, path: [...issue.path, ...inner.path] } as Issue));
}

function pickIssue(issues: readonly Issue[]): Issue {
  const all = issues.flatMap(flatten);
  return all.find((i) => i.code === 'unrecognized_keys') ?? all[0];
}

function expectedOf(issue: Issue): string[] {
  if (issue.code === 'invalid_type') {
    const names: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'a boolean', record: 'a mapping' };
    return [names[issue.expected] ?? String(issue.expected)];
  }
  if (issue.code === 'invalid_union') return (issue.errors as Issue[][]).flatMap((b) => b.flatMap(expectedOf));
  return [];
}

function valueAt(doc: unknown, path: Path): unknown {
  let node = doc;
  for (const part of path) node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[part] : undefined;
  return node;
}

function describe(issue: Issue, doc: unknown): { path: Path; reason: string } {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const found = () => show(valueAt(doc, path));
  switch (issue.code) {
    case 'unrecognized_keys':
      return { path: [...path, issue.keys[0]], reason: 'not supported by dockflow' };
    case 'invalid_type':
      // Leaves wrote a complete message; zod's own schemas (objects, lists) get one here.
      return { path, reason: issue.message.startsWith('expected ') ? issue.message : `expected ${expectedOf(issue)[0]}, got ${found()}` };
    case 'invalid_union': {
      const expected = [...new Set(expectedOf(issue))];
      return { path, reason: `expected ${expected.join(' or ') || 'another form'}, got ${found()}` };
    }
    case 'invalid_key':
      return { path, reason: issue.issues[0]?.message ?? issue.message };
    default:
      return { path, reason: issue.message };
  }
}
