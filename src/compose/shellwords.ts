/**
 * Split `command:` / `entrypoint:` strings into words the way a POSIX shell
 * splits them (quotes and backslashes), which is what compose does.
 *
 * The string is never run by a shell, so shell operators mean nothing.
 * compose's splitter silently stops at the first unquoted `;`, `&`, `|`, `<`
 * or `>` and drops the rest of the command; dockflow refuses such a string
 * instead of running a different command than the one written.
 */
export function splitShellWords(input: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else current += ch;
    } else if (quote === '"') {
      // Inside double quotes a backslash only escapes what the shell would: $ ` " \ and a newline.
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < input.length && '$`"\\\n'.includes(input[i + 1])) {
        const next = input[++i];
        if (next !== '\n') current += next;
      } else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\') {
      if (i + 1 < input.length) {
        const next = input[++i];
        if (next !== '\n') {
          current += next;
          inWord = true;
        }
      }
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else if (';&|<>'.includes(ch)) {
      const operator = /^(&&|\|\||>>|[;&|<>])/.exec(input.slice(i))?.[0] ?? ch;
      throw new Error(
        `unquoted "${operator}" in "${input}": the command is not run by a shell; write it as a list such as ["sh", "-c", "..."] or quote the character`,
      );
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in "${input}"`);
  if (inWord) words.push(current);
  return words;
}
