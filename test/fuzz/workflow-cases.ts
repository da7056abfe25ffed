/**
 * Mutated workflow inputs, one JSON value each, for every workflow type the
 * worker registers (workflows/index.ts). Each starts from a valid baseline
 * (a spec loaded from the repository's demo fixture, the README's
 * copy-paste inputs) and gets one to three seeded mutations: wrong types,
 * extra and missing keys, huge and negative numbers, NaN-like strings, path
 * traversal, unicode, deep nesting, null, arrays for objects, and, inside a
 * spec, hostile values that still look valid.
 *
 * Whether the result is still a valid input is decided by the workflow's own
 * schema (after the JSON round trip the input makes through Temporal), so
 * the runner knows which outcome to demand. Valid inputs are kept harmless:
 * a deploy stays a dry run, and a valid project name is always one of the
 * fuzzer's own (its prefix), so nothing outside the fuzzer's projects is
 * ever touched.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { z } from 'zod';
import { loadStack } from '../../src/compose';
import { DeployInput, DownInput, HistoryInput, RollbackInput, UpdateInput } from '../../src/model/input';
import { BackupInput, ListBackupsInput, MigrateInput, RestoreInput } from '../../src/model/backup-input';
import { isProjectName } from '../../src/model/names';
import { LockHolderInput } from '../../workflows/lock';
import { Random } from './random';

export const WORKFLOW_TYPES = ['deploy', 'down', 'update', 'rollback', 'history', 'backup', 'backups', 'restore', 'migrate', 'projectLock'] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];

/** The schema each workflow validates its input with. */
export const SCHEMAS: Record<WorkflowType, z.ZodType> = {
  deploy: DeployInput,
  down: DownInput,
  update: UpdateInput,
  rollback: RollbackInput,
  history: HistoryInput,
  backup: BackupInput,
  backups: ListBackupsInput,
  restore: RestoreInput,
  migrate: MigrateInput,
  projectLock: LockHolderInput,
};

export interface WorkflowCase {
  index: number;
  type: WorkflowType;
  /** The project a valid input of this case works on: the fuzzer's prefix and the case number. */
  project: string;
  input: unknown;
  mutations: string[];
  /** The workflow's schema refuses the input (after the JSON round trip). */
  invalid: boolean;
}

export interface WorkflowFixtures {
  /** DOCKFLOW_STACKS_DIR for the worker: one stack folder, `stack`. */
  stacksDir: string;
  stack: string;
  /** A compose file on the worker's host. */
  composeFile: string;
  /** The demo fixture's spec (project renamed per case). */
  spec: Record<string, unknown>;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Files the baselines point at: the demo fixture copied into a stacks folder, loaded once for a spec. */
export function workflowFixtures(prefix: string): WorkflowFixtures {
  const stacksDir = fs.mkdtempSync(path.join(os.tmpdir(), `dockflow-fuzz-stacks-`));
  const stack = `${prefix}stack`;
  const dir = path.join(stacksDir, stack);
  fs.mkdirSync(dir);
  const demo = fs.readFileSync(path.join(REPO_ROOT, 'examples', 'demo', 'docker-compose.yml'), 'utf8');
  // The stack's own project name is the fuzzer's too, so even a dry run observes only fuzz projects.
  const composeFile = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(composeFile, demo.replace(/^name: .*$/m, `name: ${prefix}stack`));
  const { spec } = loadStack({ files: [composeFile], environment: {} });
  return { stacksDir, stack, composeFile, spec: JSON.parse(JSON.stringify(spec)) };
}

/** Valid inputs of each type for `project`: small, and built from the fixtures so schema changes reach them. */
export function baselines(type: WorkflowType, project: string, fx: WorkflowFixtures): unknown[] {
  const spec = { ...fx.spec, project };
  const service = Object.keys(fx.spec.services as Record<string, unknown>)[0];
  switch (type) {
    case 'deploy':
      return [
        { spec, dryRun: true },
        { composeFiles: [fx.composeFile], project, dryRun: true, removeOrphans: false, build: false, wait: true, healthTimeoutSeconds: 30 },
        { stack: fx.stack, project, dryRun: true, waitForLock: false },
      ];
    case 'down':
      return [{ project, volumes: false }, { project, volumes: true, waitForLock: false }];
    case 'update':
      return [
        { project, service, image: 'dockflow/busybox:1' },
        { project, service, scale: 2, rollout: { parallelism: 1, order: 'start-first', delayMs: 0, monitorMs: 1000, maxFailureRatio: 0.5, failureAction: 'rollback', allowStopFirst: false } },
      ];
    case 'rollback':
      return [{ project }, { project, to: 3, healthTimeoutSeconds: 30 }];
    case 'history':
    case 'backups':
      return [{ project }];
    case 'backup':
      return [{ project, keepLast: 7 }, { project, volumes: ['db-data'], services: [service], keepDays: 3, reason: 'manual' }];
    case 'restore':
      return [{ project, backupId: '20261122-030000-1a2b3c4d' }, { project, backupId: '20261122-030000-1a2b3c4d', volumes: ['db-data'], healthTimeoutSeconds: 30 }];
    case 'migrate':
      return [{ project, service, command: ['true'] }, { project, service, command: ['sh', '-c', 'exit 0'], dryRunCommand: ['true'], restart: false, timeoutSeconds: 60 }];
    case 'projectLock':
      return [{ project, operation: 'deploy', workflowId: `${project}-holder`, since: '2026-11-30T12:00:00.000Z' }];
  }
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  '../../etc/passwd',
  '../x',
  '..',
  '.',
  '/',
  '/etc',
  '/dev/zero',
  '/proc/self/environ',
  '/proc/self/mem',
  'a/../../b',
  '..%2f..%2fetc',
  'C:\\Windows\\System32',
  '~',
  '$(reboot)',
  '`id`',
  '; rm -rf /',
  '${HOME}',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '-1',
  '0x10',
  'true',
  'null',
  'undefined',
  '__proto__',
  'é',
  'e\u0301',
  '💥',
  '\u202e',
  '\uD800',
  'Ａ',
  'UPPER',
  'a b',
  'a\nb',
  '20261122-030000-1A2B3C4D',
  '20261122-030000-1a2b3c4d/../x',
  'x'.repeat(300),
  'x'.repeat(100_000),
];

const HOSTILE_NUMBERS = [0, -0, -1, -1.5, 0.5, 1e-300, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e21, 1e308, Number.MAX_VALUE, NaN, Infinity, -Infinity];

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', '', ' ', 'spec ', 'Project', 'projects', 'dry_run', 'é', 'x'.repeat(1000), 'extra', 'a.b', '0'];

function deep(r: Random, depth: number): unknown {
  let node: unknown = r.pick(['leaf', 1, null]);
  const asList = r.chance(0.5);
  for (let i = 0; i < depth; i++) node = asList ? [node] : { k: node };
  return node;
}

/** Anything at all, for "wrong type" mutations. */
function hostileValue(r: Random, near?: unknown): unknown {
  switch (r.int(0, 8)) {
    case 0:
      return r.pick([null, true, false]);
    case 1:
      return r.pick(HOSTILE_NUMBERS);
    case 2:
    case 3:
      return r.pick(HOSTILE_STRINGS);
    case 4:
      return r.pick([[], {}, [null], { a: 1 }, [[]], ['a', 1, null]]);
    case 5:
      return deep(r, r.pick([10, 100, 500]));
    case 6:
      return Array.from({ length: r.pick([100, 5000]) }, (_, i) => `item${i}`);
    case 7:
      // The value's own kind, as a string, an array or a wrapper: "nearly right".
      return r.pick([String(near), [near], { value: near }, JSON.stringify(near) ?? 'undefined']);
    default:
      return typeof near === 'number' ? r.pick(HOSTILE_NUMBERS) : typeof near === 'string' ? `${near}${r.pick(['/..', '\u0000', ' ', '/../../x', '💥'])}` : null;
  }
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => v !== null && typeof v === 'object';

function slots(root: Container, maxDepth = 8): { parent: Container; key: string | number; path: string }[] {
  const out: { parent: Container; key: string | number; path: string }[] = [];
  const walk = (node: Container, at: string, depth: number) => {
    if (depth > maxDepth) return;
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, value] of entries) {
      const here = typeof key === 'number' ? `${at}[${key}]` : `${at}.${key}`;
      out.push({ parent: node, key, path: here });
      if (isContainer(value)) walk(value, here, depth + 1);
    }
  };
  walk(root, 'input', 0);
  return out;
}

const put = (parent: Container, key: string | number, value: unknown) => {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
};
const at = (parent: Container, key: string | number) => (parent as Record<string | number, unknown>)[key];

function short(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 50 ? `${text.slice(0, 47)}...` : text;
}

/** One mutation of `input` (which may be replaced whole); returns the new input. */
function mutate(input: unknown, r: Random, notes: string[]): unknown {
  if (!isContainer(input) || r.chance(0.05)) {
    const value = r.pick<unknown>([null, [], 'deploy', 42, [input], { input }, true, '']);
    notes.push(`whole input → ${short(value)}`);
    return value;
  }
  const all = slots(input);
  const kind = r.weighted<string>([
    [5, 'type'],
    [2, 'delete'],
    [3, 'extra'],
    [2, 'number'],
    [3, 'string'],
    [1, 'array-for-object'],
    [1, 'null'],
    [6, 'spec-hostile'],
  ]);
  if (all.length === 0 || kind === 'extra') {
    const targets = [input, ...all.map((s) => at(s.parent, s.key)).filter((v): v is Record<string, unknown> => isContainer(v) && !Array.isArray(v))];
    const target = r.pick(targets);
    const key = r.pick(HOSTILE_KEYS);
    put(target, key, hostileValue(r));
    notes.push(`extra key ${short(key)}`);
    return input;
  }
  const slot = r.pick(all);
  const old = at(slot.parent, slot.key);
  switch (kind) {
    case 'delete':
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete slot.parent[slot.key as string];
      notes.push(`delete ${slot.path}`);
      return input;
    case 'number': {
      const n = r.pick(HOSTILE_NUMBERS);
      const value = r.chance(0.3) ? String(n) : n;
      put(slot.parent, slot.key, value);
      notes.push(`${slot.path} = ${short(value)}`);
      return input;
    }
    case 'string': {
      const value = typeof old === 'string' && r.chance(0.5) ? `${old}${r.pick(['/../..', '\u0000', '/x', ' ', 'É', '\n'])}` : r.pick(HOSTILE_STRINGS);
      put(slot.parent, slot.key, value);
      notes.push(`${slot.path} = ${short(value)}`);
      return input;
    }
    case 'array-for-object':
      put(slot.parent, slot.key, isContainer(old) && !Array.isArray(old) ? Object.values(old) : [old]);
      notes.push(`${slot.path} wrapped in a list`);
      return input;
    case 'null':
      put(slot.parent, slot.key, null);
      notes.push(`${slot.path} = null`);
      return input;
    case 'spec-hostile': {
      // Inside a spec: values the schema lets through (strings, names, labels) but that mean harm.
      const inSpec = all.filter((s) => s.path.startsWith('input.spec.') && (typeof at(s.parent, s.key) === 'string' || isContainer(at(s.parent, s.key))));
      if (inSpec.length === 0) return mutate(input, r, notes);
      const target = r.pick(inSpec);
      const value = at(target.parent, target.key);
      if (isContainer(value) && !Array.isArray(value) && Object.keys(value).length > 0 && r.chance(0.5)) {
        const oldKey = r.pick(Object.keys(value));
        const newKey = r.pick(['../x', 'a/b', '..', 'com.docker.compose.project', 'io.dockflow.revision', '💥', 'X'.repeat(300), ' ']);
        const moved = value[oldKey];
        delete value[oldKey];
        put(value, newKey, moved);
        notes.push(`rename ${target.path}.${oldKey} → ${short(newKey)}`);
      } else {
        const hostile = r.pick(['../../etc', '/', '/var/run/docker.sock', '../x', 'a:b:c', 'UPPER:tag', 'x'.repeat(5000), '\u0000', '💥', '$(id)', '--privileged', 'host']);
        put(target.parent, target.key, hostile);
        notes.push(`${target.path} = ${short(hostile)}`);
      }
      return input;
    }
    default: {
      const value = hostileValue(r, old);
      put(slot.parent, slot.key, value);
      notes.push(`${slot.path} = ${short(value)}`);
      return input;
    }
  }
}

/** What Temporal delivers to the workflow: the JSON round trip (NaN and Infinity become null, undefined keys vanish). */
export function roundTrip(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

/** Keep a valid input harmless: a deploy stays a dry run, a valid project name is the case's own. */
function harmless(type: WorkflowType, input: unknown, project: string, prefix: string, notes: string[]): unknown {
  if (!isContainer(input) || Array.isArray(input)) return input;
  const record = input as Record<string, unknown>;
  const own = (name: unknown) => !isProjectName(name) || name.startsWith(prefix);
  if (typeof record.project === 'string' && !own(record.project)) {
    notes.push(`(project ${short(record.project)} is a valid name outside the fuzzer's: set to ${project})`);
    record.project = project;
  }
  const spec = record.spec;
  if (isContainer(spec) && !Array.isArray(spec) && typeof spec.project === 'string' && !own(spec.project)) {
    notes.push(`(spec.project ${short(spec.project)} is a valid name outside the fuzzer's: set to ${project})`);
    (spec as Record<string, unknown>).project = project;
  }
  if (type === 'deploy' && record.dryRun !== true) {
    notes.push('(dryRun kept true)');
    record.dryRun = true;
  }
  return input;
}

export function workflowCase(seed: number, index: number, prefix: string, fx: WorkflowFixtures): WorkflowCase {
  const r = new Random(seed ^ 0x5bd1e995, index);
  const type = r.pick(WORKFLOW_TYPES);
  const project = `${prefix}${index}`;
  let input: unknown = structuredClone(r.pick(baselines(type, project, fx)));
  const mutations: string[] = [];
  const count = r.int(1, 3);
  for (let i = 0; i < count; i++) input = mutate(input, r, mutations);
  input = roundTrip(input);
  const schema = SCHEMAS[type];
  let invalid = !schema.safeParse(input).success;
  if (!invalid) {
    input = harmless(type, input, project, prefix, mutations);
    invalid = !schema.safeParse(input).success;
  }
  return { index, type, project, input, mutations, invalid };
}
