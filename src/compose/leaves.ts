/**
 * The leaves of the compose schema (schema.ts): values as compose writes
 * them, validated and decoded in one step (durations to milliseconds, sizes
 * to bytes, KEY=VALUE lists to maps, shell words to lists), strict mappings
 * that allow `x-*` keys, and `show`, how a found value is named in an error.
 * Each leaf's error says what was expected and what was found.
 */
import { z } from 'zod';
import { splitShellWords } from './shellwords';
import { parseBytes, parseComposeDuration } from '../model/units';

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A decoding leaf. `accepts` is the type gate: a value of the wrong JS type
 * is an `invalid_type` issue (so unions move on to the next branch); a value
 * of the right type that does not decode is a non-aborting custom issue (so
 * unions report it rather than "no branch matched").
 */
export function leaf<T>(expected: string, accepts: (v: unknown) => boolean, decode: (v: never) => T) {
  return z.unknown().transform((value, ctx): T => {
    if (!accepts(value)) {
      ctx.addIssue({ code: 'invalid_type', expected: expected as never, message: `expected ${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    try {
      return decode(value as never);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, continue: true });
      return z.NEVER;
    }
  });
}

export const isString = (v: unknown): v is string => typeof v === 'string';
const isScalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
export const isStringOrNumber = (v: unknown) => typeof v === 'string' || typeof v === 'number';

export const str = leaf('a string', isString, (v: string) => v);
export const matching = (re: RegExp, what: string, hint = '') =>
  leaf('a string', isString, (v: string) => {
    if (!re.test(v)) throw new Error(`invalid ${what} ${JSON.stringify(v)}${hint ? ` (${hint})` : ''}`);
    return v;
  });
/** Scalars that Docker takes as strings (label values, user, ...). */
export const scalarText = leaf('a string', isScalar, (v: string | number | boolean) => String(v));

export function integer(min = -Infinity, max = Infinity) {
  return leaf('a whole number', isStringOrNumber, (v: string | number) => {
    const n = typeof v === 'number' ? v : /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw new Error(`expected a whole number, got ${show(v)}`);
    // Beyond 2^53 a number no longer holds the integer written (and the spec's schema refuses it).
    if (!Number.isSafeInteger(n)) throw new Error(`expected a whole number, got ${show(v)}, which is too large`);
    if (n < min || n > max) throw new Error(`expected a whole number ${max === Infinity ? `>= ${min}` : `from ${min} to ${max}`}, got ${n}`);
    return n;
  });
}

export function decimal(min = -Infinity, max = Infinity) {
  return leaf('a number', isStringOrNumber, (v: string | number) => {
    const n = typeof v === 'number' ? v : /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw new Error(`expected a number, got ${show(v)}`);
    if (n < min || n > max) throw new Error(`expected a number ${max === Infinity ? `>= ${min}` : `from ${min} to ${max}`}, got ${n}`);
    return n;
  });
}

const TRUE = new Set(['true', 'yes', 'y', 'on']);
const FALSE = new Set(['false', 'no', 'n', 'off']);
export const bool = leaf('a boolean', (v) => typeof v === 'boolean' || typeof v === 'string', (v: boolean | string) => {
  if (typeof v === 'boolean') return v;
  if (TRUE.has(v.toLowerCase())) return true;
  if (FALSE.has(v.toLowerCase())) return false;
  throw new Error(`expected a boolean (true or false), got ${show(v)}`);
});

export function oneOf<const T extends readonly string[]>(values: T) {
  return leaf('a string', isString, (v: string) => {
    if (!values.includes(v)) throw new Error(`expected one of ${values.join(', ')}, got ${show(v)}`);
    return v as T[number];
  });
}

export const duration = leaf('a duration such as "10s"', isStringOrNumber, (v: string | number) => parseComposeDuration(v));
export const bytes = leaf('a size such as "512m"', isStringOrNumber, (v: string | number) => parseBytes(v));

/** A compose mapping: strict, but with `x-*` extension keys allowed (and dropped here). */
export function mapping<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.preprocess((v) => (isMapping(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-'))) : v), z.strictObject(shape));
}

export const list = <T extends z.ZodType>(item: T) => z.array(item);
export const stringList = list(str);

/** `[K=V, K]` or `{K: V, K: null}` as a map; a bare K is null (its value comes from elsewhere). */
export const keyValues = z
  .union([
    list(
      leaf('a "KEY=VALUE" string', isScalar, (v: string | number | boolean) => {
        const text = String(v);
        const at = text.indexOf('=');
        return at < 0 ? ([text, null] as const) : ([text.slice(0, at), text.slice(at + 1)] as const);
      }),
    ),
    z.record(z.string(), leaf('a string, number, boolean or null', (v) => v === null || isScalar(v), (v: string | number | boolean | null) => (v === null ? null : String(v)))),
  ])
  .transform((v): Record<string, string | null> => (Array.isArray(v) ? Object.fromEntries(v) : v));

/** Like keyValues, where a missing value means the empty string (labels, options). */
export const stringMap = keyValues.transform((v): Record<string, string> => Object.fromEntries(Object.entries(v).map(([k, val]) => [k, val ?? ''])));

/** `command:` / `entrypoint:`: a string split like a shell, or a list; null means unset. */
export const commandLine = z
  .union([leaf('a string', isString, (v: string) => splitShellWords(v)), list(scalarText)])
  .nullable();
