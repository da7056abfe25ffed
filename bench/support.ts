/** Small pieces every bench script needs: its numeric flags and Temporal's event timestamps. */

/** `--name N` from the command line, or the fallback. */
export function numericFlag(name: string, fallback: number, argv = process.argv.slice(2)): number {
  return argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback;
}

/** A history event's time (a protobuf Timestamp, seconds as a Long or a number) in ms since the epoch; 0 when absent. */
export function eventMs(t?: { seconds?: unknown; nanos?: number | null } | null): number {
  const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number | null } | undefined;
  if (!ts?.seconds) return 0;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}
