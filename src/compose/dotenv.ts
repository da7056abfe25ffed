/**
 * `.env`, `--env-file` and service `env_file` parsing, with compose's dialect:
 *
 *   KEY=value            unquoted: up to the end of the line, a trailing " #comment" removed
 *   export KEY=value     the `export` prefix is ignored
 *   KEY: value           YAML-style separator, accepted as compose does
 *   KEY='literal $X'     single quotes: no escapes, no interpolation (except \')
 *   KEY="a\nb ${X}"      double quotes: \n \t \\ \" \$ escapes, then interpolation;
 *                        may span several lines
 *   KEY                  no value: inherited from the environment, omitted if unset
 *   # comment, blank lines
 *
 * `${X}` in unquoted and double-quoted values is interpolated from the
 * environment first and then from keys defined earlier (compose's order).
 */
import { interpolateString, type Lookup } from './interpolate';

export class DotEnvError extends Error {}

export interface DotEnvResult {
  values: Record<string, string>;
  /** Variables referenced in values but set nowhere (they became ""). */
  missing: string[];
}

export function parseDotEnv(text: string, lookup: Lookup = () => undefined): Record<string, string> {
  return parseDotEnvDetailed(text, lookup).values;
}

/** `earlier`: values of env files read before this one, which keys of this file override. */
export function parseDotEnvDetailed(text: string, lookup: Lookup = () => undefined, earlier: Readonly<Record<string, string>> = {}): DotEnvResult {
  const values: Record<string, string> = {};
  const missing: string[] = [];
  const own = (name: string) => (Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined);
  const resolve: Lookup = (name) => lookup(name) ?? own(name) ?? (Object.prototype.hasOwnProperty.call(earlier, name) ? earlier[name] : undefined);
  const expand = (value: string, line: number) => {
    try {
      const result = interpolateString(value, resolve);
      missing.push(...result.missing);
      return result.value;
    } catch (err) {
      throw new DotEnvError(`line ${line}: ${(err as Error).message}`);
    }
  };

  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const skipBlank = () => {
    while (i < src.length && /\s/.test(src[i])) if (src[i++] === '\n') line++;
  };
  const restOfLine = () => {
    const end = src.indexOf('\n', i);
    const text = src.slice(i, end < 0 ? src.length : end);
    i = end < 0 ? src.length : end;
    return text;
  };

  for (skipBlank(); i < src.length; skipBlank()) {
    if (src[i] === '#') {
      restOfLine();
      continue;
    }
    const statementLine = line;
    const head = /^(?:export[ \t]+)?([^\s=:]*)[ \t]*([=:]|\n|$)/.exec(src.slice(i));
    if (!head || !head[1] || head[2] === undefined) {
      throw new DotEnvError(`line ${statementLine}: expected KEY=VALUE, got "${restOfLine().trim()}"`);
    }
    const key = head[1];
    const bad = /[^A-Za-z0-9_.\-[\]]/.exec(key);
    if (bad) throw new DotEnvError(`line ${statementLine}: unexpected character "${bad[0]}" in variable name "${key}"`);
    if (head[2] !== '=' && head[2] !== ':') {
      // A bare KEY takes its value from the environment.
      i += head[0].length;
      if (head[2] === '\n') line++;
      const inherited = resolve(key);
      if (inherited !== undefined) values[key] = inherited;
      continue;
    }
    i += head[0].length;
    while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;

    const quote = src[i];
    if (quote === '"' || quote === "'") {
      let body = '';
      let escaped = false;
      let closed = false;
      for (i++; i < src.length; i++) {
        const ch = src[i];
        if (ch === '\n') line++;
        if (escaped) {
          // Only the quote itself loses its backslash here; the other escapes are decoded below.
          body += ch === quote ? ch : `\\${ch}`;
          escaped = false;
        } else if (ch === '\\') escaped = true;
        else if (ch === quote) {
          closed = true;
          i++;
          break;
        } else body += ch;
      }
      if (!closed) throw new DotEnvError(`line ${statementLine}: unterminated quoted value for ${key}`);
      values[key] = quote === '"' ? expand(unescapeDoubleQuoted(body), statementLine) : body;
      restOfLine();
      continue;
    }

    const raw = restOfLine();
    const hash = raw.indexOf(' #');
    values[key] = expand((hash >= 0 ? raw.slice(0, hash) : raw).replace(/\s+$/, ''), statementLine);
  }
  return { values, missing: [...new Set(missing)] };
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };

function unescapeDoubleQuoted(body: string): string {
  return body.replace(/\\([abfnrtv\\"$])/g, (_, ch: string) => (ch === '$' ? '$$' : ESCAPES[ch]));
}
