/**
 * Merge phase: the `-f` files combine in order, each over the ones before,
 * with compose's rules (compose-spec "merge", compose-go override/):
 *
 * - mappings merge key by key, recursively; a scalar is replaced;
 * - a null keeps the earlier value (`!reset` erases), except where null is
 *   itself a value: a bare KEY of environment/labels/args, and the replaced
 *   keys below (`command: null` unsets the command);
 * - `environment`, `labels`, `extra_hosts`, `build.args`, `depends_on`,
 *   `networks` merge as maps: their list forms become maps first (toMergeForm);
 * - `command`, `entrypoint` and `healthcheck.test` are replaced whole;
 * - `logging` merges when both files name the same driver (or one names
 *   none), else the later one replaces it;
 * - sequences are appended; `ports` (by their text or host/port/protocol),
 *   `volumes` (by container path) and `env_file` (by path) keep one entry per
 *   key, the later entry taking the earlier one's place; `expose`, `tmpfs`,
 *   `profiles`, `cap_add`, `cap_drop`, `security_opt` and network `aliases`
 *   drop exact duplicates;
 * - `!reset` removes what earlier files set at that key, `!override`
 *   replaces it instead of merging.
 *
 * The same rules apply inside one file, so duplicates collapse there too.
 * Every value's file is recorded in a Provenance for later errors.
 */
import { Provenance, pathKey, type Path, type PathPart } from './paths';
import { volumeTarget } from './volumes';

type Doc = Record<string, unknown>;

const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface MergeInput {
  file: string;
  /** The interpolated, validated document of the file. */
  doc: Doc;
  resets: Path[];
  overrides: Path[];
}

/** "K=V" / "K" items as a map; a bare K maps to null, as in the map form. */
function listToMap(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const out: Doc = {};
  for (const item of value) {
    const text = String(item);
    const at = text.indexOf('=');
    if (at < 0) out[text] = null;
    else out[text.slice(0, at)] = text.slice(at + 1);
  }
  return out;
}

function extraHostsToMap(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const out: Doc = {};
  for (const item of value) {
    // The first separator splits: IPv6 addresses contain colons.
    const m = /^([^:=]+)[:=](.*)$/.exec(String(item));
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** List forms that merge as maps become maps, strings that merge as lists become lists. */
export function toMergeForm(doc: Doc): Doc {
  const out: Doc = { ...doc };
  if (isMap(doc.services)) {
    out.services = Object.fromEntries(
      Object.entries(doc.services).map(([name, raw]) => {
        if (!isMap(raw)) return [name, raw];
        const s: Doc = { ...raw };
        if (typeof s.build === 'string') s.build = { context: s.build };
        if (isMap(s.build)) s.build = { ...s.build, ...('args' in s.build ? { args: listToMap(s.build.args) } : {}), ...('labels' in s.build ? { labels: listToMap(s.build.labels) } : {}) };
        if ('environment' in s) s.environment = listToMap(s.environment);
        if ('labels' in s) s.labels = listToMap(s.labels);
        if ('extra_hosts' in s) s.extra_hosts = extraHostsToMap(s.extra_hosts);
        // compose-go gives list entries these defaults before merging, so a later list resets a condition.
        if (Array.isArray(s.depends_on)) s.depends_on = Object.fromEntries(s.depends_on.map((d) => [String(d), { condition: 'service_started', required: true }]));
        if (Array.isArray(s.networks)) s.networks = Object.fromEntries(s.networks.map((n) => [String(n), null]));
        if (typeof s.tmpfs === 'string') s.tmpfs = [s.tmpfs];
        if (typeof s.env_file === 'string') s.env_file = [s.env_file];
        if (isMap(s.deploy) && 'labels' in s.deploy) s.deploy = { ...s.deploy, labels: listToMap(s.deploy.labels) };
        return [name, s];
      }),
    );
  }
  for (const section of ['networks', 'volumes']) {
    const entries = doc[section];
    if (!isMap(entries)) continue;
    out[section] = Object.fromEntries(Object.entries(entries).map(([key, def]) => [key, isMap(def) && 'labels' in def ? { ...def, labels: listToMap(def.labels) } : def]));
  }
  return out;
}

type Rule = 'replace' | 'logging' | 'keyed' | 'unique' | 'default';

const UNIQUE_SERVICE_LISTS = new Set(['expose', 'tmpfs', 'profiles', 'cap_add', 'cap_drop', 'security_opt']);

function ruleFor(path: Path): Rule {
  if (path[0] !== 'services') return 'default';
  if (path.length === 3) {
    const key = path[2];
    if (key === 'command' || key === 'entrypoint') return 'replace';
    if (key === 'logging') return 'logging';
    if (key === 'ports' || key === 'volumes' || key === 'env_file') return 'keyed';
    if (typeof key === 'string' && UNIQUE_SERVICE_LISTS.has(key)) return 'unique';
  }
  if (path.length === 4 && path[2] === 'healthcheck' && path[3] === 'test') return 'replace';
  if (path.length === 5 && path[2] === 'networks' && path[4] === 'aliases') return 'unique';
  return 'default';
}

const KEY_VALUE_MAPS = new Set(['environment', 'labels']);

/** An entry of a map that compose merges as a KEY=VALUE list (environment, labels, build args). */
function isKeyValueEntry(path: Path): boolean {
  const [section, , key, sub] = path;
  if (section === 'services') {
    if (path.length === 4) return typeof key === 'string' && KEY_VALUE_MAPS.has(key);
    if (path.length === 5) return (key === 'build' && (sub === 'args' || sub === 'labels')) || (key === 'deploy' && sub === 'labels');
    return false;
  }
  return (section === 'networks' || section === 'volumes') && path.length === 4 && key === 'labels';
}

/** The identity of an entry of a keyed list (ports, volumes, env_file). */
function entryKey(list: PathPart, item: unknown): string {
  if (list === 'volumes') return volumeTarget(item) ?? JSON.stringify(item);
  if (list === 'env_file') return isMap(item) ? String(item.path) : String(item);
  if (isMap(item)) return `${item.host_ip ?? ''}:${item.published ?? ''}:${item.target}/${item.protocol ?? 'tcp'}`;
  return String(item);
}

class Merger {
  constructor(
    readonly provenance: Provenance,
    private file = '',
    private overrides = new Set<string>(),
  ) {}

  mergeFile(base: Doc, input: MergeInput): Doc {
    this.file = input.file;
    this.overrides = new Set(input.overrides.map(pathKey));
    for (const path of input.resets) this.reset(base, path);
    return this.value(base, toMergeForm(input.doc), [], []) as Doc;
  }

  private reset(doc: Doc, path: Path): void {
    let node: unknown = doc;
    for (const part of path.slice(0, -1)) node = isMap(node) || Array.isArray(node) ? (node as Record<PathPart, unknown>)[part] : undefined;
    if (isMap(node)) delete node[path[path.length - 1]];
    this.provenance.forget(path);
  }

  private value(base: unknown, over: unknown, path: Path, source: Path): unknown {
    if (over === undefined) return base;
    const rule = ruleFor(path);
    if (this.overrides.has(pathKey(source)) || rule === 'replace') return this.take(over, path, source);
    // compose keeps the earlier value under a null, except in KEY=VALUE maps, where a bare KEY is a value.
    if (over === null && base !== undefined && !isKeyValueEntry(path)) return base;
    if (rule === 'logging' && isMap(base) && isMap(over) && base.driver !== undefined && over.driver !== undefined && base.driver !== over.driver) {
      return this.take(over, path, source);
    }
    if (isMap(over) && (base === undefined || isMap(base))) return this.map(base, over, path, source);
    if (Array.isArray(over) && (base === undefined || Array.isArray(base))) return this.list(base, over, path, source, rule);
    return this.take(over, path, source);
  }

  private take(over: unknown, path: Path, source: Path): unknown {
    this.provenance.claim(path, this.file, source);
    return structuredClone(over);
  }

  /** A new node belongs to this file alone; an existing one is shared with the files before. */
  private own(path: Path, source: Path, existingChildren: readonly PathPart[] | undefined): void {
    if (existingChildren === undefined) this.provenance.claim(path, this.file, source);
    else this.provenance.share(path, this.file, existingChildren);
  }

  private map(base: Doc | undefined, over: Doc, path: Path, source: Path): Doc {
    this.own(path, source, base && Object.keys(base));
    const out: Doc = { ...base };
    for (const [key, value] of Object.entries(over)) out[key] = this.value(base?.[key], value, [...path, key], [...source, key]);
    return out;
  }

  private list(base: unknown[] | undefined, over: unknown[], path: Path, source: Path, rule: Rule): unknown[] {
    this.own(path, source, base?.map((_, i) => i));
    const out = [...(base ?? [])];
    const keyOf = (item: unknown) => (rule === 'keyed' ? entryKey(path[2], item) : rule === 'unique' ? (typeof item === 'object' ? JSON.stringify(item) : String(item)) : undefined);
    const index = new Map<string, number>();
    out.forEach((item, i) => {
      const key = keyOf(item);
      if (key !== undefined && !index.has(key)) index.set(key, i);
    });
    over.forEach((item, j) => {
      const key = keyOf(item);
      const at = key !== undefined ? index.get(key) : undefined;
      const i = at ?? out.length;
      out[i] = structuredClone(item);
      this.provenance.claim([...path, i], this.file, [...source, j]);
      if (key !== undefined && at === undefined) index.set(key, i);
    });
    return out;
  }
}

/** Merge the files in order; the Provenance tells which file each value came from. */
export function mergeFiles(inputs: readonly MergeInput[], lines: ReadonlyMap<string, ReadonlyMap<string, number>>): { doc: Doc; provenance: Provenance } {
  const merger = new Merger(new Provenance(lines));
  let doc: Doc = {};
  for (const input of inputs) doc = merger.mergeFile(doc, input);
  return { doc, provenance: merger.provenance };
}
