/**
 * Interpolation phase: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`
 * for a literal dollar; defaults may themselves contain `${...}`. Applied to
 * every string value of a parsed file (never to keys), with the environment
 * injected as a lookup function so tests pass a plain map.
 */
import { ComposeError } from './errors';

export type Lookup = (name: string) => string | undefined;

export class MissingRequiredVariable extends Error {}

export interface Interpolated {
  value: string;
  /** Variables that were unset and had no default (they became ""). */
  missing: string[];
}

export function interpolateString(input: string, lookup: Lookup): Interpolated {
  const missing: string[] = [];
  const value = expand(input, lookup, missing);
  return { value, missing };
}

function expand(input: string, lookup: Lookup, missing: string[]): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = matchingBrace(input, i + 1);
      if (end < 0) throw new Error(`unterminated "\${" in "${input}"`);
      out += substitute(input.slice(i + 2, end), lookup, missing);
      i = end + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(input.slice(i + 1));
    if (m) {
      const v = lookup(m[0]);
      if (v === undefined) missing.push(m[0]);
      out += v ?? '';
      i += 1 + m[0].length;
      continue;
    }
    out += '$';
    i++;
  }
  return out;
}

function matchingBrace(input: string, open: number): number {
  let depth = 0;
  for (let i = open; i < input.length; i++) {
    if (input[i] === '{') depth++;
    else if (input[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function substitute(body: string, lookup: Lookup, missing: string[]): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
  if (!m) throw new Error(`invalid interpolation "\${${body}}"`);
  const [, name, op, arg = ''] = m;
  const value = lookup(name);
  const unsetOrEmpty = value === undefined || value === '';
  switch (op) {
    case undefined:
      if (value === undefined) missing.push(name);
      return value ?? '';
    case ':-':
      return unsetOrEmpty ? expand(arg, lookup, missing) : value!;
    case '-':
      return value === undefined ? expand(arg, lookup, missing) : value;
    case ':?':
    case '?':
      if (op === ':?' ? unsetOrEmpty : value === undefined) {
        throw new MissingRequiredVariable(`required variable ${name} is missing a value${arg ? `: ${expand(arg, lookup, missing)}` : ''}`);
      }
      return value!;
    case ':+':
      return unsetOrEmpty ? '' : expand(arg, lookup, missing);
    case '+':
      return value === undefined ? '' : expand(arg, lookup, missing);
    default:
      throw new Error(`invalid interpolation "\${${body}}"`);
  }
}

/** Interpolate every string in a parsed document; errors name file and path. */
export function interpolateTree(node: unknown, lookup: Lookup, file: string, path: string, warnings: Set<string>): unknown {
  if (typeof node === 'string') {
    try {
      const { value, missing } = interpolateString(node, lookup);
      for (const name of missing) warnings.add(`${file}: the "${name}" variable is not set; defaulting to a blank string`);
      return value;
    } catch (err) {
      throw new ComposeError((err as Error).message, file, path);
    }
  }
  if (Array.isArray(node)) return node.map((item, i) => interpolateTree(item, lookup, file, `${path}[${i}]`, warnings));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      // x-* extensions are the user's own data (YAML anchors for instance): compose interpolates them too.
      out[key] = interpolateTree(value, lookup, file, path ? `${path}.${key}` : key, warnings);
    }
    return out;
  }
  return node;
}
