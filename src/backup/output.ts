/**
 * Container output shown as progress: each line of a migration (or hook)
 * becomes a progress step titled `<container> | <line>`, the way
 * `docker compose logs` prefixes lines, so the generic progress query carries
 * it to the CLI and the Temporal UI. Pure: workflows import it.
 */

/** At most this many output lines per container become steps; the rest stay in `docker logs`. */
export const MAX_OUTPUT_STEPS = 400;

export function outputStepTitle(container: string, line: string): string {
  return `${container} | ${line}`;
}

/** Whether a progress step is a line of output rather than a step of work. */
export function isOutputStep(title: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]* \| /.test(title);
}

/**
 * Docker's `timestamps=true` log lines start with an RFC 3339 time with up to
 * nine fractional digits. Returns [seconds, nanoseconds] and the text.
 */
export function splitTimestamp(line: string): { at: [number, number]; text: string } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) ?(.*)$/s.exec(line);
  if (!m) return undefined;
  const seconds = Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000);
  if (!Number.isFinite(seconds)) return undefined;
  return { at: [seconds, Number((m[2] ?? '').padEnd(9, '0'))], text: m[4] };
}

/** A log cursor as Docker's `since` parameter accepts it: `<seconds>.<nanoseconds>`. */
export function cursorOf(at: [number, number]): string {
  return `${at[0]}.${String(at[1]).padStart(9, '0')}`;
}

export function parseCursor(cursor: string): [number, number] {
  const [s, ns = '0'] = cursor.split('.');
  return [Number(s), Number(ns.padEnd(9, '0'))];
}

export function after(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/** The last `n` lines of a text, for failure messages. */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/** An argv as a shell would need it typed, for progress titles: `sh -c 'echo hi'`. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[a-zA-Z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
