/**
 * Validation phase: the shape of a compose file as dockflow accepts it,
 * keyed by path. Every object is strict, so a key dockflow does not
 * implement is reported as "not supported by dockflow" with its file and
 * path instead of being dropped. `x-*` extension keys are taken out before
 * validation (see stripExtensions) and kept.
 */
import { z } from 'zod';
import { ComposeError } from './errors';

const str = z.string();
const num = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a number').transform(Number)]);
const int = z.union([z.number().int(), z.string().regex(/^-?\d+$/, 'expected a whole number').transform(Number)]);
const bool = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False']).transform((v) => v.toLowerCase() === 'true')]);
const strOrNum = z.union([z.string(), z.number()]);
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const listOrMap = z.union([z.array(z.string()), z.record(z.string(), scalar)]);
const duration = strOrNum;
const stringList = z.array(z.string());

const UpdateConfig = z.strictObject({
  parallelism: int.optional(),
  delay: duration.optional(),
  failure_action: z.enum(['continue', 'rollback', 'pause']).optional(),
  monitor: duration.optional(),
  max_failure_ratio: num.optional(),
  order: z.enum(['stop-first', 'start-first']).optional(),
});

const Resources = z.strictObject({ cpus: strOrNum.optional(), memory: strOrNum.optional(), pids: int.optional() });

export const RawService = z.strictObject({
  image: str.optional(),
  build: z
    .union([
      str,
      z.strictObject({
        context: str.optional(),
        dockerfile: str.optional(),
        target: str.optional(),
        args: listOrMap.optional(),
        labels: listOrMap.optional(),
      }),
    ])
    .optional(),
  pull_policy: z.enum(['always', 'missing', 'never', 'build', 'if_not_present']).optional(),
  command: z.union([str, stringList, z.null()]).optional(),
  entrypoint: z.union([str, stringList, z.null()]).optional(),
  environment: listOrMap.optional(),
  env_file: z.union([str, z.array(z.union([str, z.strictObject({ path: str, required: bool.optional() })]))]).optional(),
  ports: z
    .array(
      z.union([
        strOrNum,
        z.strictObject({
          target: int,
          published: strOrNum.optional(),
          host_ip: str.optional(),
          protocol: z.enum(['tcp', 'udp', 'sctp']).optional(),
          mode: z.enum(['host', 'ingress']).optional(),
          name: str.optional(),
        }),
      ]),
    )
    .optional(),
  expose: z.array(strOrNum).optional(),
  volumes: z
    .array(
      z.union([
        str,
        z.strictObject({
          type: z.enum(['volume', 'bind', 'tmpfs']),
          source: str.optional(),
          target: str,
          read_only: bool.optional(),
          bind: z.strictObject({ create_host_path: bool.optional() }).optional(),
          volume: z.strictObject({ nocopy: bool.optional() }).optional(),
          tmpfs: z.strictObject({ size: strOrNum.optional(), mode: strOrNum.optional() }).optional(),
        }),
      ]),
    )
    .optional(),
  tmpfs: z.union([str, stringList]).optional(),
  networks: z
    .union([
      stringList,
      z.record(
        z.string(),
        z.union([z.null(), z.strictObject({ aliases: stringList.optional(), ipv4_address: str.optional(), ipv6_address: str.optional() })]),
      ),
    ])
    .optional(),
  depends_on: z
    .union([
      stringList,
      z.record(
        z.string(),
        z.strictObject({
          condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']).optional(),
          restart: bool.optional(),
          required: bool.optional(),
        }),
      ),
    ])
    .optional(),
  healthcheck: z
    .strictObject({
      test: z.union([str, stringList]).optional(),
      interval: duration.optional(),
      timeout: duration.optional(),
      retries: int.optional(),
      start_period: duration.optional(),
      start_interval: duration.optional(),
      disable: bool.optional(),
    })
    .optional(),
  restart: z.string().regex(/^(no|always|unless-stopped|on-failure(:\d+)?)$/, 'expected no, always, unless-stopped, on-failure or on-failure:N').optional(),
  profiles: stringList.optional(),
  labels: listOrMap.optional(),
  container_name: str.optional(),
  hostname: str.optional(),
  user: strOrNum.optional(),
  working_dir: str.optional(),
  read_only: bool.optional(),
  init: bool.optional(),
  cap_add: stringList.optional(),
  cap_drop: stringList.optional(),
  security_opt: stringList.optional(),
  logging: z.strictObject({ driver: str.optional(), options: z.record(z.string(), strOrNum).optional() }).optional(),
  deploy: z
    .strictObject({
      mode: z.literal('replicated').optional(),
      replicas: int.optional(),
      resources: z.strictObject({ limits: Resources.optional(), reservations: Resources.optional() }).optional(),
      update_config: UpdateConfig.optional(),
      rollback_config: UpdateConfig.optional(),
      restart_policy: z
        .strictObject({ condition: z.enum(['none', 'on-failure', 'any']).optional(), max_attempts: int.optional(), delay: duration.optional(), window: duration.optional() })
        .optional(),
      labels: listOrMap.optional(),
    })
    .optional(),
  scale: int.optional(),
  stop_grace_period: duration.optional(),
  stop_signal: str.optional(),
  extra_hosts: listOrMap.optional(),
});
export type RawService = z.output<typeof RawService>;

const externalFlag = z.union([bool, z.strictObject({ name: str })]);

export const RawNetwork = z.strictObject({
  name: str.optional(),
  external: externalFlag.optional(),
  driver: str.optional(),
  driver_opts: z.record(z.string(), strOrNum).optional(),
  internal: bool.optional(),
  attachable: bool.optional(),
  enable_ipv6: bool.optional(),
  labels: listOrMap.optional(),
});
export type RawNetwork = z.output<typeof RawNetwork>;

export const RawVolume = z.strictObject({
  name: str.optional(),
  external: externalFlag.optional(),
  driver: str.optional(),
  driver_opts: z.record(z.string(), strOrNum).optional(),
  labels: listOrMap.optional(),
});
export type RawVolume = z.output<typeof RawVolume>;

export const RawProject = z.strictObject({
  version: strOrNum.optional(),
  name: str.optional(),
  services: z.record(z.string(), z.union([RawService, z.null()])).optional(),
  networks: z.record(z.string(), z.union([RawNetwork, z.null()])).optional(),
  volumes: z.record(z.string(), z.union([RawVolume, z.null()])).optional(),
});
export type RawProject = z.output<typeof RawProject>;

/** Levels where compose allows `x-*` keys that we keep as extensions. */
export function stripExtensions(doc: Record<string, unknown>): Record<string, unknown> {
  const strip = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    return Object.fromEntries(Object.entries(node).filter(([k]) => !k.startsWith('x-')));
  };
  const out = strip(doc) as Record<string, unknown>;
  for (const section of ['services', 'networks', 'volumes']) {
    const map = out[section];
    if (map && typeof map === 'object' && !Array.isArray(map)) {
      out[section] = Object.fromEntries(Object.entries(map).map(([name, def]) => [name, strip(def)]));
    }
  }
  return out;
}

export function extensionsOf(node: unknown): Record<string, unknown> {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return {};
  return Object.fromEntries(Object.entries(node).filter(([k]) => k.startsWith('x-')));
}

/** Validate one file's document; the first problem becomes a ComposeError naming file and path. */
export function validate(doc: unknown, file: string): RawProject {
  const result = RawProject.safeParse(stripExtensions((doc ?? {}) as Record<string, unknown>));
  if (result.success) return result.data;
  const issue = mostSpecific(result.error.issues);
  throw issueToError(issue, file);
}

type Issue = z.core.$ZodIssue;

function mostSpecific(issues: readonly Issue[]): Issue {
  // Unions report one issue with every branch's issues; the branch that got
  // furthest into the value says what the user meant.
  const flat = (issue: Issue): Issue[] => {
    if (issue.code !== 'invalid_union') return [issue];
    const branches = (issue as unknown as { errors: Issue[][] }).errors ?? [];
    const candidates = branches.flat().flatMap((inner) => flat({ ...inner, path: [...issue.path, ...inner.path] } as Issue));
    return candidates.length ? candidates : [issue];
  };
  const all = issues.flatMap(flat);
  const score = (i: Issue) => i.path.length * 10 + (i.code === 'unrecognized_keys' ? 5 : i.code === 'invalid_type' ? 0 : 3);
  return all.reduce((best, i) => (score(i) > score(best) ? i : best), all[0]);
}

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), '');
}

function issueToError(issue: Issue, file: string): ComposeError {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    return new ComposeError('not supported by dockflow', file, pathText([...issue.path, key]));
  }
  return new ComposeError(issue.message, file, pathText(issue.path) || '(top level)');
}
