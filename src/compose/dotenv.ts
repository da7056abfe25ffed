/**
 * `.env` and env_file parsing: KEY=VALUE lines, `export` prefixes, comments,
 * single quotes (literal), double quotes (\n escapes, ${VAR} expansion),
 * unquoted values with a trailing " #comment" removed.
 */
import { interpolateString } from './interpolate';

export function parseDotEnv(text: string, lookup: (name: string) => string | undefined = () => undefined): Record<string, string> {
  const result: Record<string, string> = {};
  const resolve = (name: string) => (name in result ? result[name] : lookup(name));
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=)?\s*(.*)$/.exec(line);
    if (!m) throw new Error(`line ${n + 1}: expected KEY=VALUE, got "${line}"`);
    const [, key, eq, rawValue] = m;
    if (!eq) {
      const inherited = lookup(key);
      if (inherited !== undefined) result[key] = inherited;
      continue;
    }
    let value = rawValue;
    if (value.startsWith("'")) {
      const end = value.indexOf("'", 1);
      if (end < 0) throw new Error(`line ${n + 1}: unterminated single quote`);
      value = value.slice(1, end);
    } else if (value.startsWith('"')) {
      let body = value.slice(1);
      // A double-quoted value may continue over several lines.
      while (!/(^|[^\\])"/.test(body) && n + 1 < lines.length) body += `\n${lines[++n]}`;
      const end = body.search(/(^|[^\\])"/);
      if (end < 0) throw new Error(`line ${n + 1}: unterminated double quote`);
      const inner = body.slice(0, end + (body[end] === '"' ? 0 : 1));
      value = interpolateString(inner.replace(/\\n/g, '\n').replace(/\\"/g, '"'), resolve).value;
    } else {
      value = interpolateString(value.replace(/\s+#.*$/, '').trim(), resolve).value;
    }
    result[key] = value;
  }
  return result;
}
