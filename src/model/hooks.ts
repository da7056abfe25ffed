/**
 * Deploy hooks, from dockflow's compose extension:
 *
 *   services:
 *     web:
 *       x-dockflow:
 *         hooks:
 *           pre_deploy:                       # before any container of the stack changes
 *             command: ["./manage.py", "migrate"]
 *             timeout: 10m                    # default 5m
 *           post_deploy: "curl -fsS http://web:8000/warm"   # once the stack is healthy
 *   x-dockflow:
 *     hooks:
 *       post_deploy: {service: web, command: ["./notify-release"]}
 *
 * A hook runs in a one-off container of its service (the service's image of
 * the operation, environment, networks and volumes), like Dokku's predeploy.
 * A command written as a string runs through `/bin/sh -c` (as backup hooks
 * do); a list runs as is. A hook at the top level names its service.
 *
 * Pure: the loader validates with it (errors then name file and key), and
 * workflows import it to decide which hooks an operation runs. Errors carry
 * the key path that is wrong.
 */
import type { StackSpec } from './spec';
import { DockflowServiceExtension } from './extensions';
import { parseDuration } from './units';

export const HOOK_PHASES = ['pre_deploy', 'post_deploy'] as const;
export type DeployHookPhase = (typeof HOOK_PHASES)[number];

/** How long a deploy hook may run unless it says otherwise. */
export const DEFAULT_DEPLOY_HOOK_TIMEOUT_MS = 5 * 60_000;

export interface DeployHook {
  phase: DeployHookPhase;
  /** The service whose image, environment, networks and volumes the one-off container gets. */
  service: string;
  command: string[];
  timeoutMs: number;
  /** Where it was configured: `services.web.x-dockflow.hooks.pre_deploy` or `x-dockflow.hooks.post_deploy`. */
  origin: string;
  /** Configured at the top level (runs whenever the operation changes anything), not under its service. */
  topLevel: boolean;
}

/** Hook settings that are wrong; `path` is the compose key path, `reason` what is wrong with it. */
export class HookSettingsError extends Error {
  constructor(
    readonly path: PathPart[],
    readonly reason: string,
  ) {
    super(`${formatPath(path)}: ${reason}`);
    this.name = 'HookSettingsError';
  }
}

type PathPart = string | number;

/** `services.web.x-dockflow.hooks.pre_deploy`, list indexes in brackets: how the loader's errors spell a key path. */
function formatPath(path: readonly PathPart[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

const SERVICE_EXTENSION_KEYS = Object.keys(DockflowServiceExtension.shape);
const TOP_EXTENSION_KEYS = ['hooks'];
const SERVICE_HOOK_KEYS = ['command', 'timeout'];
const TOP_HOOK_KEYS = ['service', 'command', 'timeout'];

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(node: Record<string, unknown>, at: PathPart[], known: string[], what: string): void {
  for (const key of Object.keys(node)) {
    if (!known.includes(key)) throw new HookSettingsError([...at, key], `unknown key (${what}: ${known.join(', ')})`);
  }
}

function commandOf(raw: unknown, at: PathPart[]): string[] {
  if (typeof raw === 'string') {
    if (raw.trim() === '') throw new HookSettingsError(at, 'the command is empty');
    return ['/bin/sh', '-c', raw];
  }
  if (Array.isArray(raw)) {
    if (raw.length === 0) throw new HookSettingsError(at, 'the command is empty');
    return raw.map((arg, i) => {
      // YAML reads `[sleep, 5]` with a number in it; the container gets its text.
      if (typeof arg === 'string') return arg;
      if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
      throw new HookSettingsError([...at, i], 'expected a string');
    });
  }
  throw new HookSettingsError(at, 'expected a command: a string (run with /bin/sh -c) or a list of strings (run as is)');
}

function hookOf(raw: unknown, at: PathPart[], phase: DeployHookPhase, owner: string | undefined, services: readonly string[]): DeployHook {
  const origin = formatPath(at);
  if (owner !== undefined && (typeof raw === 'string' || Array.isArray(raw))) {
    return { phase, service: owner, command: commandOf(raw, at), timeoutMs: DEFAULT_DEPLOY_HOOK_TIMEOUT_MS, origin, topLevel: false };
  }
  if (!isMapping(raw)) {
    throw new HookSettingsError(
      at,
      owner !== undefined
        ? 'expected a command (string or list) or a mapping with command and timeout'
        : 'expected a mapping with service, command and timeout (a top-level hook names the service it runs in)',
    );
  }
  if (owner !== undefined && 'service' in raw) {
    throw new HookSettingsError([...at, 'service'], `a hook under services.${owner} runs in ${owner}; only a top-level hook (x-dockflow.hooks) names a service`);
  }
  checkKeys(raw, at, owner !== undefined ? SERVICE_HOOK_KEYS : TOP_HOOK_KEYS, 'a hook takes');
  let service = owner;
  if (owner === undefined) {
    if (raw.service === undefined) throw new HookSettingsError([...at, 'service'], 'required: the service whose image, environment, networks and volumes the hook runs with');
    if (typeof raw.service !== 'string') throw new HookSettingsError([...at, 'service'], 'expected a service name');
    if (!services.includes(raw.service)) {
      throw new HookSettingsError([...at, 'service'], `no service ${raw.service} in the stack (services: ${[...services].sort().join(', ') || 'none'}; a profile may have left it out)`);
    }
    service = raw.service;
  }
  if (raw.command === undefined) throw new HookSettingsError([...at, 'command'], 'required');
  const command = commandOf(raw.command, [...at, 'command']);
  let timeoutMs = DEFAULT_DEPLOY_HOOK_TIMEOUT_MS;
  if (raw.timeout !== undefined) {
    if (typeof raw.timeout !== 'string' && typeof raw.timeout !== 'number') throw new HookSettingsError([...at, 'timeout'], 'expected a duration such as 30s or 10m');
    try {
      timeoutMs = parseDuration(raw.timeout);
    } catch (err) {
      throw new HookSettingsError([...at, 'timeout'], (err as Error).message);
    }
    if (timeoutMs <= 0) throw new HookSettingsError([...at, 'timeout'], 'must be more than 0');
  }
  return { phase, service: service!, command, timeoutMs, origin, topLevel: owner === undefined };
}

function hooksUnder(raw: unknown, at: PathPart[], owner: string | undefined, services: readonly string[]): DeployHook[] {
  if (raw === undefined || raw === null) return [];
  if (!isMapping(raw)) throw new HookSettingsError(at, 'expected a mapping with pre_deploy and/or post_deploy');
  checkKeys(raw, at, [...HOOK_PHASES], 'hooks are');
  return HOOK_PHASES.filter((phase) => raw[phase] !== undefined && raw[phase] !== null).map((phase) => hookOf(raw[phase], [...at, phase], phase, owner, services));
}

/**
 * Every deploy hook of a stack, checked: top-level hooks first, then each
 * service's in the order of `spec.services`. Also refuses unknown keys
 * directly under `x-dockflow` (a misspelt `hook:` would otherwise be a
 * silent no-op). Throws HookSettingsError naming the key path.
 */
export function stackHooks(spec: Pick<StackSpec, 'services' | 'extensions'>): DeployHook[] {
  const services = Object.keys(spec.services);
  const hooks: DeployHook[] = [];
  const top = spec.extensions['x-dockflow'];
  if (top !== undefined && top !== null) {
    if (!isMapping(top)) throw new HookSettingsError(['x-dockflow'], 'expected a mapping');
    checkKeys(top, ['x-dockflow'], TOP_EXTENSION_KEYS, 'known at the top level');
    hooks.push(...hooksUnder(top.hooks, ['x-dockflow', 'hooks'], undefined, services));
  }
  for (const name of services) {
    const own = spec.services[name].extensions['x-dockflow'];
    if (own === undefined || own === null) continue;
    const at = ['services', name, 'x-dockflow'];
    if (!isMapping(own)) throw new HookSettingsError(at, 'expected a mapping');
    checkKeys(own, at, SERVICE_EXTENSION_KEYS, 'known on a service');
    hooks.push(...hooksUnder(own.hooks, [...at, 'hooks'], name, services));
  }
  return hooks;
}

/**
 * The hooks an operation runs in one phase, in order: the top-level hook
 * when the operation changes anything, then the hook of each service it
 * changes, in `changed` order (the plan's dependency order). An operation
 * that changes nothing runs no hook.
 */
export function hooksToRun(hooks: readonly DeployHook[], phase: DeployHookPhase, changed: readonly string[], anythingChanged: boolean): DeployHook[] {
  if (!anythingChanged) return [];
  const ofPhase = hooks.filter((h) => h.phase === phase);
  const top = ofPhase.filter((h) => h.topLevel);
  const own = changed.flatMap((service) => ofPhase.filter((h) => !h.topLevel && h.service === service));
  return [...top, ...own];
}

export interface HookContext {
  project: string;
  operation: 'deploy' | 'update';
  /** The revision the operation records when it succeeds. */
  revision: number;
  /** The revision the project was at before; absent on a first deploy. */
  previousRevision?: number;
  workflowId: string;
}

/** What every hook finds in its environment, over the service's own. */
export function hookEnvironment(hook: Pick<DeployHook, 'phase'>, context: HookContext): Record<string, string> {
  return {
    DOCKFLOW_PROJECT: context.project,
    DOCKFLOW_OPERATION: context.operation,
    DOCKFLOW_REVISION: String(context.revision),
    DOCKFLOW_PREVIOUS_REVISION: context.previousRevision === undefined ? '' : String(context.previousRevision),
    DOCKFLOW_WORKFLOW_ID: context.workflowId,
    DOCKFLOW_HOOK: hook.phase,
  };
}

/** 300000 → "5m", 90000 → "1m30s", 1500 → "1.5s". */
export function formatTimeout(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s ? `${s}s` : ''].join('') || '0s';
}

/** An argv as a shell would need it typed: `sh -c 'echo hi'`. */
function quoted(argv: string[]): string {
  return argv.map((a) => (/^[a-zA-Z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** One plan line: `pre_deploy hook in a one-off container of web: ./manage.py migrate (timeout 5m; services.web.x-dockflow.hooks.pre_deploy)`. */
export function describeHook(hook: DeployHook): string {
  return `${hook.phase} hook in a one-off container of ${hook.service}: ${quoted(hook.command)} (timeout ${formatTimeout(hook.timeoutMs)}; ${hook.origin})`;
}

/** The plan as `--dry-run` prints it, with the hooks in the order they run: pre_deploy before the container operations, post_deploy after. */
export function planWithHooks(planText: string, pre: readonly DeployHook[], post: readonly DeployHook[]): string {
  return [...pre.map(describeHook), planText, ...post.map(describeHook)].join('\n');
}
