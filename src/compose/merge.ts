/**
 * Merge phase: several `-f` files combine in order, later over earlier, with
 * compose's rules: mappings merge key by key; `environment`, `labels`,
 * `extra_hosts`, `build.args`, `depends_on`, `networks` merge as maps (their
 * list forms are turned into maps first); `ports`, `expose`, `tmpfs`,
 * `cap_add`, `cap_drop`, `security_opt`, `dns` are appended without
 * duplicates; `volumes` merge by container path; `command`, `entrypoint` and
 * `healthcheck.test` are replaced whole; other scalars and lists are replaced.
 */

type Doc = Record<string, unknown>;

const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** "K=V" / "K" list items to a map; a bare "K" maps to null (value from the environment). */
export function listToMap(value: unknown, separator = '='): unknown {
  if (!Array.isArray(value)) return value;
  const out: Doc = {};
  for (const item of value) {
    const text = String(item);
    const at = text.indexOf(separator);
    if (at < 0) out[text] = null;
    else out[text.slice(0, at)] = text.slice(at + 1);
  }
  return out;
}

function extraHostsToMap(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const out: Doc = {};
  for (const item of value) {
    const text = String(item);
    // "host:ip" or "host=ip"; IPv6 addresses contain ":" so split at the first separator.
    const m = /^([^:=]+)[:=](.*)$/.exec(text);
    if (m) out[m[1]] = m[2];
    else out[text] = null;
  }
  return out;
}

/** Bring list forms that merge as maps into map form, per service, before merging. */
export function canonicalizeForMerge(doc: Doc): Doc {
  const services = isMap(doc.services) ? doc.services : undefined;
  if (!services) return doc;
  const out: Doc = {};
  for (const [name, raw] of Object.entries(services)) {
    if (!isMap(raw)) {
      out[name] = raw ?? {};
      continue;
    }
    const s: Doc = { ...raw };
    if ('environment' in s) s.environment = listToMap(s.environment);
    if ('labels' in s) s.labels = listToMap(s.labels);
    if ('extra_hosts' in s) s.extra_hosts = extraHostsToMap(s.extra_hosts);
    if (typeof s.build === 'string') s.build = { context: s.build };
    if (isMap(s.build) && 'args' in s.build) s.build = { ...s.build, args: listToMap(s.build.args) };
    if (isMap(s.build) && 'labels' in s.build) s.build = { ...s.build, labels: listToMap(s.build.labels) };
    if (Array.isArray(s.depends_on)) s.depends_on = Object.fromEntries(s.depends_on.map((d) => [String(d), { condition: 'service_started' }]));
    if (Array.isArray(s.networks)) s.networks = Object.fromEntries(s.networks.map((n) => [String(n), null]));
    if (typeof s.tmpfs === 'string') s.tmpfs = [s.tmpfs];
    if (isMap(s.deploy) && 'labels' in s.deploy) s.deploy = { ...s.deploy, labels: listToMap(s.deploy.labels) };
    out[name] = s;
  }
  return { ...doc, services: out };
}

const APPEND = new Set(['ports', 'expose', 'tmpfs', 'cap_add', 'cap_drop', 'security_opt', 'dns', 'dns_search']);
const REPLACE = new Set(['command', 'entrypoint', 'profiles', 'env_file']);

/** Container path of a volume entry, short or long syntax. */
export function volumeTarget(entry: unknown): string {
  if (isMap(entry)) return String(entry.target ?? '');
  const parts = String(entry).split(':');
  // "name:/path[:mode]" or "/path"; a Windows drive letter is not a concern on Linux hosts.
  return parts.length === 1 ? parts[0] : parts[1];
}

function mergeService(base: Doc, over: Doc): Doc {
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    if (value === undefined) continue;
    if (REPLACE.has(key)) out[key] = value;
    else if (APPEND.has(key) && Array.isArray(prev) && Array.isArray(value)) {
      const seen = new Set(prev.map((v) => JSON.stringify(v)));
      out[key] = [...prev, ...value.filter((v) => !seen.has(JSON.stringify(v)))];
    } else if (key === 'volumes' && Array.isArray(prev) && Array.isArray(value)) {
      const byTarget = new Map(prev.map((v) => [volumeTarget(v), v]));
      for (const v of value) byTarget.set(volumeTarget(v), v);
      out[key] = [...byTarget.values()];
    } else if (key === 'healthcheck' && isMap(prev) && isMap(value)) {
      out[key] = { ...prev, ...value };
    } else if (isMap(prev) && isMap(value)) {
      out[key] = deepMerge(prev, value);
    } else out[key] = value;
  }
  return out;
}

function deepMerge(base: Doc, over: Doc): Doc {
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isMap(prev) && isMap(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

export function mergeDocuments(docs: Doc[]): Doc {
  let merged: Doc = {};
  for (const doc of docs.map(canonicalizeForMerge)) {
    const next: Doc = { ...merged };
    for (const [key, value] of Object.entries(doc)) {
      if (key === 'services' && isMap(value)) {
        const services: Doc = { ...(isMap(merged.services) ? merged.services : {}) };
        for (const [name, def] of Object.entries(value)) {
          const prev = services[name];
          services[name] = isMap(prev) && isMap(def) ? mergeService(prev, def) : (def ?? {});
        }
        next.services = services;
      } else if (isMap(value) && isMap(merged[key])) {
        next[key] = deepMerge(merged[key] as Doc, value);
      } else next[key] = value;
    }
    merged = next;
  }
  return merged;
}
