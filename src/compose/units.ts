/** Compose's units: durations ("1m30s") and byte sizes ("512m"). */

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/**
 * Milliseconds from a Go-style duration ("1m30s", "1.5s", "500ms", "2h").
 * A bare number is taken as seconds, as compose does for stop_grace_period.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}`);
    return Math.round(value * 1000);
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (text === '' || matched !== text.length) throw new Error(`invalid duration "${value}" (expected e.g. 10s, 1m30s, 500ms)`);
  return Math.round(total);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4 };

/** Bytes from "512m", "1g", "1gb", "100k" or a number of bytes. */
export function parseBytes(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  if (!m || !(m[2].toLowerCase() in BYTE_UNITS)) throw new Error(`invalid size "${value}" (expected e.g. 512m, 1g)`);
  return Math.round(Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()]);
}
