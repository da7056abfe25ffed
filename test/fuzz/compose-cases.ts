/**
 * Mutated compose projects for the loader fuzzer. A case is a project
 * directory's worth of files (compose files in -f order, .env, env files)
 * plus the environment, all derived from one of the repository's own small
 * fixtures by a few seeded mutations: on the parsed tree (wrong types,
 * unknown keys, hostile names and values, interpolation edge cases, deep
 * nesting, aliases and `<<` merge keys) and on the text (duplicate keys,
 * alias bombs, truncation, tabs, BOMs, tags, stray bytes).
 *
 * Same (seed, index), same case: the generator draws from Random(seed, index) only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { Random } from './random';

export interface ComposeCase {
  index: number;
  /** What was done to the baseline, in order: the replay's description. */
  mutations: string[];
  baseline: string;
  /** Compose files, in -f order; names relative to the project directory. */
  files: { name: string; text: string }[];
  /** Other files of the project directory (.env, env files, ...). */
  support: Record<string, string>;
  /** The environment the loader sees (the CLI's process environment holds these too). */
  environment: Record<string, string>;
  profiles?: string[];
}

interface Baseline {
  name: string;
  files: { name: string; text: string }[];
  support: Record<string, string>;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The projects every case starts from: the repository's own fixtures, so new compose features reach the fuzzer with them. */
const FIXTURE_DIRS: { name: string; dir: string; files: string[] }[] = [
  { name: 'demo', dir: 'examples/demo', files: ['docker-compose.yml'] },
  { name: 'gantry', dir: 'test/fixtures/compose/gantry', files: ['docker-compose.yml'] },
  { name: 'gantry+prod', dir: 'test/fixtures/compose/gantry', files: ['docker-compose.yml', 'docker-compose.prod.yml'] },
];

const MINIMAL: Baseline = {
  name: 'minimal',
  files: [{ name: 'compose.yaml', text: 'services:\n  web:\n    image: busybox\n    environment:\n      A: ${FUZZ_SET}\n    ports: ["8080:80"]\n' }],
  support: {},
};

let baselines: Baseline[] | undefined;

export function composeBaselines(): Baseline[] {
  baselines ??= [
    MINIMAL,
    ...FIXTURE_DIRS.map(({ name, dir, files }) => {
      const full = path.join(REPO_ROOT, dir);
      const support: Record<string, string> = {};
      for (const entry of fs.readdirSync(full, { withFileTypes: true })) {
        if (entry.isFile() && !entry.name.endsWith('.yml') && !entry.name.endsWith('.yaml')) support[entry.name] = fs.readFileSync(path.join(full, entry.name), 'utf8');
      }
      return { name, files: files.map((f) => ({ name: f, text: fs.readFileSync(path.join(full, f), 'utf8') })), support };
    }),
  ];
  return baselines;
}

export const FUZZ_ENVIRONMENT: Record<string, string> = {
  FUZZ_SET: 'value',
  FUZZ_EMPTY: '',
  FUZZ_NUM: '3',
  FUZZ_PATH: '../../etc',
  FUZZ_UNI: 'é💥\u202e',
  FUZZ_DOLLAR: '$${x}',
};

/** Interpolation forms, valid and not: compose's syntax at its edges. */
const INTERPOLATIONS = [
  '${',
  '${}',
  '$${}',
  '$$',
  '$',
  '${FUZZ_SET',
  '${FUZZ_UNSET:?boom}',
  '${FUZZ_EMPTY:?must be set}',
  '${FUZZ_UNSET?}',
  '${FUZZ_SET:-${FUZZ_UNSET:-${FUZZ_EMPTY:-deep}}}',
  '${FUZZ_UNSET:-${FUZZ_UNSET:?nested ${FUZZ_SET}}}',
  '${FUZZ_SET:+${FUZZ_NUM}}',
  '${FUZZ_UNSET+x}',
  '${ FUZZ_SET }',
  '${1BAD}',
  '${FUZZ-SET}',
  '${FUZZ_SET:}',
  '${FUZZ_SET:=x}',
  '${${FUZZ_SET}}',
  '}${FUZZ_SET}{',
  '$FUZZ_SET$FUZZ_NUM',
  '${FUZZ_UNI}',
  '${FUZZ_DOLLAR}',
  '${FUZZ_SET:-}}}}',
  '${FUZZ_SET:-{{{',
  '$'.repeat(101),
  '${A:-'.repeat(200) + 'x' + '}'.repeat(200),
  '${A:-'.repeat(200),
  '${COMPOSE_PROJECT_NAME}',
];

/** Hostile strings: unicode, control characters, paths out of the project, huge. */
const HOSTILE_STRINGS = [
  '',
  ' ',
  '\t',
  '\u0000',
  'a\u0000b',
  '\u202egnp.exe',
  'é',
  'e\u0301',
  '💥',
  '\uD800',
  '\uFEFF',
  'ǅ',
  'İ',
  '../../etc/passwd',
  '/etc/passwd',
  '/dev/zero',
  '/proc/self/environ',
  '.',
  '..',
  '/',
  '~',
  '~root/x',
  'C:\\Windows',
  'a:b:c:d',
  'NaN',
  '.nan',
  '-.inf',
  'Infinity',
  '1e999',
  '-1',
  '0x10',
  '0o17',
  '99999999999999999999',
  '1_000',
  'yes',
  'null',
  '~/.ssh/id_rsa',
  'host:0.0.0.0',
  '127.0.0.1:99999:80',
  '8080-8070:80',
  '80/xyz',
  '[::1]:80:80',
  'data:/data:rw,z,Z,extra',
  '<<',
  '*alias',
  '&anchor',
  '!reset',
  '- item',
  '{a: b}',
  'key: value',
  '#comment',
  '"quoted',
  "'quoted",
  'a'.repeat(5000),
  '💥'.repeat(2000),
];

const HOSTILE_KEYS = ['devices', 'extends', 'foo', 'x-fuzz', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', ' ', 'é', 'a.b', '1', '-1', 'services', 'Image', '<<', 'x-', 'a'.repeat(300), '../x', 'a/b', 'A B'];

const HOSTILE_NAMES = ['../x', 'a/b', 'Web', 'a b', 'é', '__proto__', 'constructor', 'x'.repeat(300), '-a', '_a', '.a', '1', 'default', 'a:b', '', 'prototype'];

function hostileNumber(r: Random): number {
  return r.pick([0, -1, -0, 0.5, -2.5, 65536, 65535, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e21, 1e308, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN]);
}

function deep(r: Random, depth: number): unknown {
  let node: unknown = r.pick(['leaf', 1, null]);
  const asList = r.chance(0.5);
  for (let i = 0; i < depth; i++) node = asList ? [node] : { k: node };
  return node;
}

/** A value of a random kind: the "wrong type" mutations draw from here. */
function hostileValue(r: Random): unknown {
  switch (r.int(0, 9)) {
    case 0:
      return r.pick([null, true, false]);
    case 1:
      return hostileNumber(r);
    case 2:
    case 3:
      return r.pick(HOSTILE_STRINGS);
    case 4:
      return r.pick(INTERPOLATIONS);
    case 5:
      return r.pick([[], {}, [null], { a: null }, [[]], [{}], ['a', 1, true, null], { '': '' }]);
    case 6:
      return deep(r, r.pick([10, 100, 500, 1000]));
    case 7:
      return Array.from({ length: r.pick([100, 2000]) }, (_, i) => `item${i}`);
    case 8:
      return Object.fromEntries(Array.from({ length: r.pick([50, 1000]) }, (_, i) => [`k${i}`, i]));
    default:
      return `${r.pick(['a', '', 'x-'])}${r.pick(INTERPOLATIONS)}${r.pick(HOSTILE_STRINGS).slice(0, 20)}`;
  }
}

type Node = Record<string, unknown> | unknown[];
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object';

/** Every (container, key) of the tree, so a mutation can land anywhere, deep keys as often as shallow ones. */
function slots(root: Node): { parent: Node; key: string | number; depth: number }[] {
  const out: { parent: Node; key: string | number; depth: number }[] = [];
  const seen = new Set<unknown>();
  const walk = (node: Node, depth: number) => {
    if (seen.has(node) || depth > 12) return;
    seen.add(node);
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, value] of entries) {
      out.push({ parent: node, key, depth });
      if (isNode(value)) walk(value, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

/** A random slot of the tree; undefined when the tree is empty (an earlier mutation may have emptied it). */
function pickSlot(doc: Node, r: Random) {
  const all = slots(doc);
  return all.length ? r.pick(all) : undefined;
}

const set = (parent: Node, key: string | number, value: unknown) => {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
};
const get = (parent: Node, key: string | number) => (parent as Record<string | number, unknown>)[key];

/** Mutations of the parsed tree. Each returns a description, or undefined when it did not apply. */
const TREE_MUTATIONS: [number, (doc: Record<string, unknown>, r: Random) => string | undefined][] = [
  // wrong type anywhere
  [6, (doc, r) => {
    const slot = pickSlot(doc, r);
    if (!slot) return undefined;
    const value = hostileValue(r);
    set(slot.parent, slot.key, value);
    return `replace ${String(slot.key)} with ${describe(value)}`;
  }],
  // interpolation edge case in a string
  [4, (doc, r) => {
    const strings = slots(doc).filter((s) => typeof get(s.parent, s.key) === 'string');
    if (strings.length === 0) return undefined;
    const slot = r.pick(strings);
    const form = r.pick(INTERPOLATIONS);
    const old = get(slot.parent, slot.key) as string;
    set(slot.parent, slot.key, r.chance(0.5) ? `${old}${form}` : form);
    return `interpolation ${JSON.stringify(form.slice(0, 40))} at ${String(slot.key)}`;
  }],
  // unknown or hostile key in a mapping
  [3, (doc, r) => {
    const maps = [doc, ...slots(doc).map((s) => get(s.parent, s.key)).filter((v): v is Record<string, unknown> => isNode(v) && !Array.isArray(v))];
    const target = r.pick(maps);
    const key = r.pick(HOSTILE_KEYS);
    set(target, key, r.chance(0.5) ? r.pick(['x', 1, null, true]) : hostileValue(r));
    return `add key ${JSON.stringify(key.slice(0, 30))}`;
  }],
  // delete a key or item
  [2, (doc, r) => {
    const slot = pickSlot(doc, r);
    if (!slot) return undefined;
    if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
    else delete slot.parent[slot.key as string];
    return `delete ${String(slot.key)}`;
  }],
  // rename a service, network or volume to a hostile name
  [2, (doc, r) => {
    const section = r.pick(['services', 'networks', 'volumes']);
    const entries = doc[section];
    if (!isNode(entries) || Array.isArray(entries) || Object.keys(entries).length === 0) return undefined;
    const old = r.pick(Object.keys(entries));
    const name = r.pick(HOSTILE_NAMES);
    const value = entries[old];
    delete entries[old];
    set(entries, name, value);
    return `rename ${section}.${old} to ${JSON.stringify(name.slice(0, 30))}`;
  }],
  // numbers at their limits
  [2, (doc, r) => {
    const numbers = slots(doc).filter((s) => {
      const value = get(s.parent, s.key);
      return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
    });
    const slot = numbers.length ? r.pick(numbers) : pickSlot(doc, r);
    if (!slot) return undefined;
    const n = hostileNumber(r);
    set(slot.parent, slot.key, r.chance(0.3) ? String(n) : n);
    return `number ${String(n)} at ${String(slot.key)}`;
  }],
  // a mapping where a list goes and the other way round
  [2, (doc, r) => {
    const containers = slots(doc).filter((s) => isNode(get(s.parent, s.key)));
    if (containers.length === 0) return undefined;
    const slot = r.pick(containers);
    const value = get(slot.parent, slot.key) as Node;
    set(slot.parent, slot.key, Array.isArray(value) ? Object.fromEntries(value.map((v, i) => [String(i), v])) : Object.entries(value).map(([k, v]) => (isNode(v) ? v : `${k}=${String(v)}`)));
    return `list/mapping swap at ${String(slot.key)}`;
  }],
  // the same object in two places: the YAML gets an anchor and an alias
  [2, (doc, r) => {
    const containers = slots(doc).filter((s) => isNode(get(s.parent, s.key)));
    if (containers.length < 2) return undefined;
    const from = r.pick(containers);
    const to = pickSlot(doc, r);
    if (!to) return undefined;
    set(to.parent, to.key, get(from.parent, from.key));
    return `alias of ${String(from.key)} at ${String(to.key)}`;
  }],
  // a `<<` merge key, of a mapping, a list of them, or something that cannot merge
  [2, (doc, r) => {
    const maps = slots(doc).map((s) => get(s.parent, s.key)).filter((v): v is Record<string, unknown> => isNode(v) && !Array.isArray(v));
    if (maps.length === 0) return undefined;
    const target = r.pick(maps);
    const source = r.weighted<unknown>([
      [3, r.pick(maps)],
      [1, [r.pick(maps), r.pick(maps)]],
      [1, hostileValue(r)],
    ]);
    set(target, '<<', source);
    return 'merge key <<';
  }],
  // project name
  [1, (doc, r) => {
    const name = r.chance(0.5) ? r.pick(HOSTILE_NAMES) : r.pick(HOSTILE_STRINGS);
    doc.name = name;
    return `name ${JSON.stringify(name.slice(0, 30))}`;
  }],
  // env_file pointing somewhere odd
  [1, (doc, r) => {
    const services = doc.services;
    if (!isNode(services) || Array.isArray(services)) return undefined;
    const service = services[r.pick(Object.keys(services).length ? Object.keys(services) : ['x'])];
    if (!isNode(service) || Array.isArray(service)) return undefined;
    const target = r.pick(['fuzz.env', '/dev/zero', '/dev/null', '.', '..', '/proc/self/environ', '/etc/passwd', 'missing.env', '../../../../../../etc/hostname']);
    service.env_file = r.chance(0.5) ? target : [{ path: target, required: r.pick([true, false, 'maybe']) }];
    return `env_file ${target}`;
  }],
];

/** Mutations of the YAML text. */
const TEXT_MUTATIONS: [number, (text: string, r: Random) => { text: string; what: string } | undefined][] = [
  [3, (text, r) => {
    const lines = text.split('\n');
    const keyed = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[A-Za-z_][\w.-]*:/.test(l));
    if (keyed.length === 0) return undefined;
    const [line, at] = r.pick(keyed);
    const indent = /^\s*/.exec(line)![0];
    const key = /^\s*([^:]+):/.exec(line)![1];
    lines.splice(at + 1, 0, `${indent}${key}: duplicate`);
    return { text: lines.join('\n'), what: `duplicate key ${key}` };
  }],
  [2, (text, r) => {
    // "billion laughs": each level nine aliases of the one before.
    const levels = r.int(3, 9);
    let bomb = 'x-l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n';
    for (let i = 1; i <= levels; i++) bomb += `x-l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
    const use = r.chance(0.5) ? `x-use: *l${levels}\n` : '';
    return { text: `${bomb}${use}${text}`, what: `alias bomb of ${levels} levels` };
  }],
  [2, (text, r) => {
    const depth = r.pick([100, 1000, 5000, 20000]);
    const flow = r.chance(0.5) ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
    return { text: `${text}\nx-deep: ${flow}\n`, what: `flow nesting ${depth} deep` };
  }],
  [1, (text, r) => {
    const depth = r.pick([50, 300, 1000]);
    let block = 'x-block:\n';
    for (let i = 1; i <= depth; i++) block += `${' '.repeat(i)}k${i}:\n`;
    return { text: `${text}\n${block}${' '.repeat(depth + 1)}leaf\n`, what: `block nesting ${depth} deep` };
  }],
  [1, (text, r) => {
    const at = r.int(0, text.length);
    return { text: text.slice(0, at), what: `truncated at ${at}` };
  }],
  [1, (text, r) => {
    const at = r.int(0, text.length);
    const junk = r.pick(['\t', '\u0000', '\uFEFF', '\r', '\u2028', '\u0085', '"', "'", '{', '[', '&', '*', '!', '%', '@', '`', '|', '>', '? ', '--- ', '...', '\\', '\uD800']);
    return { text: `${text.slice(0, at)}${junk}${text.slice(at)}`, what: `insert ${JSON.stringify(junk)} at ${at}` };
  }],
  [1, (text, r) => {
    const tag = r.pick(['!reset', '!override', '!!python/object:os.system', '!!binary', '!!set', '!!omap', '!custom', '!!int', '!!float', '!!timestamp']);
    const lines = text.split('\n');
    const valued = lines.map((l, i) => [l, i] as const).filter(([l]) => /:\s*\S/.test(l) && !l.trim().startsWith('#'));
    if (valued.length === 0) return undefined;
    const [line, at] = r.pick(valued);
    lines[at] = line.replace(/:\s*/, `: ${tag} `);
    return { text: lines.join('\n'), what: `tag ${tag}` };
  }],
  [1, (text, r) => ({ text: r.pick([`${text}\n---\nservices: {}\n`, `---\n${text}`, `%YAML 1.1\n---\n${text}`, `\uFEFF${text}`, text.replace(/\n/g, '\r\n'), `${text}\n...\n`]), what: 'document markers' })],
  [1, (text, r) => {
    const keys = Array.from({ length: r.pick([1000, 3000]) }, (_, i) => `  k${i}: v${i}`).join('\n');
    return { text: `${text}\nx-wide:\n${keys}\n`, what: 'very wide mapping' };
  }],
];

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function applyTreeMutations(text: string, r: Random, mutations: string[]): string {
  let doc: unknown;
  try {
    doc = parse(text, { merge: true, maxAliasCount: -1, logLevel: 'error' });
  } catch {
    return text;
  }
  if (!isNode(doc) || Array.isArray(doc)) return text;
  const count = r.int(1, 3);
  for (let i = 0; i < count; i++) {
    const [, mutate] = r.weighted(TREE_MUTATIONS.map(([w, f]) => [w, [w, f]] as const));
    const what = mutate(doc as Record<string, unknown>, r);
    if (what) mutations.push(what);
  }
  return toYaml(doc, mutations) ?? text;
}

/** The tree as YAML; deep trees can overflow the serialiser's stack, and then the case keeps its text. */
function toYaml(doc: unknown, mutations: string[]): string | undefined {
  try {
    return stringify(doc, { aliasDuplicateObjects: true, lineWidth: 0 });
  } catch (err) {
    mutations.push(`(tree not serialisable: ${(err as Error).message.slice(0, 60)})`);
    return undefined;
  }
}

export function composeCase(seed: number, index: number): ComposeCase {
  const r = new Random(seed, index);
  const baseline = r.pick(composeBaselines());
  const mutations: string[] = [];
  const files = baseline.files.map((f) => ({ ...f }));
  const support = { ...baseline.support };
  const environment = { ...FUZZ_ENVIRONMENT };

  // Which file to mutate; the others stay as in the fixture, so the merge sees one hostile file among sane ones.
  const target = files[r.int(0, files.length - 1)];
  if (r.chance(0.85)) target.text = applyTreeMutations(target.text, r, mutations);
  if (r.chance(0.35) || mutations.length === 0) {
    const [, mutate] = r.weighted(TEXT_MUTATIONS.map(([w, f]) => [w, [w, f]] as const));
    const result = mutate(target.text, r);
    if (result) {
      target.text = result.text;
      mutations.push(result.what);
    }
  }
  if (r.chance(0.1)) {
    // An override file that is hostile on its own.
    const text = toYaml({ services: { [r.pick(['web', 'db', 'backend', 'api', ...HOSTILE_NAMES])]: hostileValue(r) } }, mutations);
    if (text !== undefined) {
      files.push({ name: 'fuzz.override.yml', text });
      mutations.push('hostile override file');
    }
  }
  if (r.chance(0.15)) {
    const env = r.pick([
      'FUZZ_A=${FUZZ_UNSET:?from .env}\n',
      'FUZZ_A="unterminated\n',
      "FUZZ_A='x\n",
      'bad key=1\n',
      'export FUZZ_A=${FUZZ_SET}\nFUZZ_B=${FUZZ_A}${FUZZ_A}\n',
      '=novalue\n',
      `FUZZ_A=${'${'.repeat(50)}\n`,
      'FUZZ_A="\\u0000\\x\\n"\n',
      'COMPOSE_PROJECT_NAME=../../Evil\n',
      'COMPOSE_PROJECT_NAME=💥\n',
      'COMPOSE_PROFILES=,,,\n',
      '\uFEFFFUZZ_A=1\r\nFUZZ_B=2\r\n',
      `${'A'.repeat(10000)}=1\n`,
    ]);
    support['.env'] = env;
    mutations.push(`.env ${JSON.stringify(env.slice(0, 40))}`);
  }
  if (r.chance(0.2)) {
    support['fuzz.env'] = r.pick(['A=1\n', 'A="x\n', '${\n', 'A=${FUZZ_UNSET:?env_file}\n', 'ä=1\n', 'A: b\n']);
  }
  if (r.chance(0.05)) {
    environment.COMPOSE_PROJECT_NAME = r.pick(HOSTILE_NAMES);
    mutations.push(`COMPOSE_PROJECT_NAME=${JSON.stringify(environment.COMPOSE_PROJECT_NAME.slice(0, 30))}`);
  }
  const profiles = r.chance(0.1) ? [r.pick(['', ' ', 'a,b', '*', 'é', 'debug', ...HOSTILE_NAMES])] : undefined;
  if (profiles) mutations.push(`--profile ${JSON.stringify(profiles[0].slice(0, 30))}`);
  return { index, mutations, baseline: baseline.name, files, support, environment, ...(profiles ? { profiles } : {}) };
}
