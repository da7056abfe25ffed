/**
 * Interpolation phase. Every string value of a parsed file (never a key) has
 * its variables substituted, with compose's syntax:
 *
 *   $VAR ${VAR}           value, or "" and a warning when unset
 *   ${VAR:-default}       default when unset or empty   ${VAR-default}  when unset
 *   ${VAR:?message}       error when unset or empty      ${VAR?message}  when unset
 *   ${VAR:+replacement}   replacement when set and non-empty, else ""
 *   ${VAR+replacement}    replacement when set, else ""
 *   $$                    a literal $
 *
 * Defaults, replacements and messages are interpolated themselves, so
 * `${A:-${B:-x}}` nests. A `$` not followed by a name, `{` or `$` is kept.
 * Names are `[A-Za-z_][A-Za-z0-9_]*`.
 */
import { ComposeError } from './errors';
import { formatPath, type Path } from './paths';

export type Lookup = (name: string) => string | undefined;
/** A lookup function or a plain map (unset = absent or undefined). */
export type Environment = Lookup | Readonly<Record<string, string | undefined>>;

export class InterpolationError extends Error {}

export interface Interpolated {
  value: string;
  /** Variables that were unset and had no default: they became "". */
  missing: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function toLookup(environment: Environment): Lookup {
  if (typeof environment === 'function') return environment;
  return (name) => (Object.prototype.hasOwnProperty.call(environment, name) ? environment[name] : undefined);
}

/** Interpolate one string. Throws InterpolationError for `:?`/`?` failures and malformed `${...}`. */
export function interpolateString(input: string, environment: Environment): Interpolated {
  const missing: string[] = [];
  const value = expand(input, toLookup(environment), missing);
  return { value, missing: [...new Set(missing)] };
}

function expand(input: string, lookup: Lookup, missing: string[]): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const dollar = input.indexOf('$', i);
    if (dollar < 0) {
      out += input.slice(i);
      break;
    }
    out += input.slice(i, dollar);
    const next = input[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const close = closingBrace(input, dollar + 1);
      if (close < 0) throw new InterpolationError(`invalid interpolation format in "${input}": unterminated "\${"`);
      out += substitute(input.slice(dollar + 2, close), lookup, missing);
      i = close + 1;
    } else {
      const name = NAME.exec(input.slice(dollar + 1))?.[0];
      if (name) {
        const value = lookup(name);
        if (value === undefined) missing.push(name);
        out += value ?? '';
        i = dollar + 1 + name.length;
      } else {
        out += '$';
        i = dollar + 1;
      }
    }
  }
  return out;
}

/** Index of the `}` closing the `{` at `open`, counting nested `${...}`. */
function closingBrace(input: string, open: number): number {
  let depth = 0;
  for (let i = open; i < input.length; i++) {
    if (input[i] === '{') depth++;
    else if (input[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function substitute(body: string, lookup: Lookup, missing: string[]): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
  if (!m) throw new InterpolationError(`invalid interpolation format "\${${body}}"`);
  const [, name, op, arg = ''] = m;
  const value = lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (op) {
    case undefined:
      if (!set) missing.push(name);
      return value ?? '';
    case ':-':
      return nonEmpty ? value : expand(arg, lookup, missing);
    case '-':
      return set ? value : expand(arg, lookup, missing);
    case ':?':
    case '?': {
      if (op === ':?' ? nonEmpty : set) return value as string;
      const message = expand(arg, lookup, missing);
      throw new InterpolationError(`required variable ${name} is missing a value${message ? `: ${message}` : ''}`);
    }
    case ':+':
      return nonEmpty ? expand(arg, lookup, missing) : '';
    default:
      return set ? expand(arg, lookup, missing) : '';
  }
}

export interface InterpolateOptions {
  /** File display name, for errors and warnings. */
  file?: string;
  /** Path of `value` inside its document, for errors. */
  path?: Path;
  /** Receives one warning per unset variable (without duplicates). */
  warnings?: string[];
  /** Turns a failure at a path into an error (default: a ComposeError naming file and path). */
  fail?: (path: Path, reason: string) => Error;
}

/**
 * The interpolation phase on a whole parsed document (or any part of it):
 * returns a copy with every string value interpolated. Keys are left alone.
 */
export function interpolate<T>(value: T, environment: Environment, options: InterpolateOptions = {}): T {
  const lookup = toLookup(environment);
  const fail = options.fail ?? ((path: Path, reason: string) => new ComposeError(reason, options.file, formatPath(path) || undefined));
  const warn = (name: string) => {
    if (!options.warnings) return;
    const text = `${options.file ? `${options.file}: ` : ''}the "${name}" variable is not set; defaulting to a blank string`;
    if (!options.warnings.includes(text)) options.warnings.push(text);
  };
  const visit = (node: unknown, path: Path): unknown => {
    if (typeof node === 'string') {
      try {
        const result = interpolateString(node, lookup);
        result.missing.forEach(warn);
        return result.value;
      } catch (err) {
        if (err instanceof InterpolationError) throw fail(path, err.message);
        throw err;
      }
    }
    if (Array.isArray(node)) return node.map((item, i) => visit(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = visit(child, [...path, key]);
      return out;
    }
    return node;
  };
  return visit(value, options.path ?? []) as T;
}
