/**
 * Compose's units: durations ("1m30s") and byte sizes ("512m").
 *
 * Durations use Go's syntax (time.ParseDuration, plus the `d` and `w` units
 * compose-go accepts): a sequence of decimal numbers with units ns, us (µs),
 * ms, s, m, h, d, w. Results are whole milliseconds, rounded.
 */

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/y;

function parseUnits(text: string): number | undefined {
  const body = text.startsWith('+') ? text.slice(1) : text;
  if (body === '0') return 0;
  if (body === '') return undefined;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  while (DURATION_PART.lastIndex < body.length) {
    const m = DURATION_PART.exec(body);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
  }
  const ms = Math.round(total);
  // Past 2^53 ms (285,000 years) the number no longer holds what was written: refuse it rather than round it.
  return Number.isSafeInteger(ms) ? ms : undefined;
}

const durationError = (value: string | number) => new Error(`invalid duration ${JSON.stringify(value)} (expected e.g. 10s, 1m30s, 500ms)`);

/**
 * Milliseconds from a duration. Lenient, for the CLI and `x-dockflow`
 * settings: a bare number (or numeric string) counts as seconds. Compose
 * files go through {@link parseComposeDuration}, which, like compose,
 * insists on a unit.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || !Number.isSafeInteger(Math.round(value * 1000))) throw durationError(value);
    return Math.round(value * 1000);
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const ms = Math.round(Number(text) * 1000);
    if (!Number.isSafeInteger(ms)) throw durationError(value);
    return ms;
  }
  const ms = parseUnits(text);
  if (ms === undefined) throw durationError(value);
  return ms;
}

/**
 * Milliseconds from a compose duration. Compose rejects a number without a
 * unit (is `10` seconds or nanoseconds?), except 0, and so does dockflow.
 */
export function parseComposeDuration(value: string | number): number {
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text) && Number(text) !== 0) {
    throw new Error(`invalid duration ${JSON.stringify(value)}: a unit is required, e.g. "${text}s"`);
  }
  const ms = parseUnits(text);
  if (ms === undefined) throw durationError(value);
  return ms;
}

const BYTE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Bytes from a size as Docker reads memory sizes (binary multiples):
 * "512m", "1g", "1gb", "1GiB", "100k", "2048" or a number of bytes.
 */
export function parseBytes(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`invalid size ${value} (expected a whole number of bytes or e.g. 512m, 1g)`);
    return value;
  }
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)} (expected e.g. 512m, 1g, 100k)`);
  const bytes = Math.round(Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()]);
  // Past 2^53 bytes (8 PiB) the number no longer holds what was written.
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size ${JSON.stringify(value)}: too large`);
  return bytes;
}
