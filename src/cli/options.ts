/**
 * Option parsers every command shares. Each one rejects a bad value while
 * commander parses the command line, before any connection is made, with
 * commander's message naming the flag and the value; main() turns every
 * commander error into exit code 2 (bad usage).
 */
import { InvalidArgumentError, Option } from 'commander';
// The zod-free modules: these parsers run while commander reads the command line, also for `--help`.
import { PROJECT_NAME_RULE, isProjectName } from '../model/project-name';
import { parseDuration } from '../model/units';

/** `-p, --project-name`: compose's rule, the same the workflows and the ledger apply. */
export function projectNameArg(value: string): string {
  if (!isProjectName(value)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a valid project name: ${PROJECT_NAME_RULE}.`);
  return value;
}

export function projectNameOption(description = 'project name', options: { required?: boolean } = { required: true }): Option {
  const option = new Option('-p, --project-name <name>', description).argParser(projectNameArg);
  return options.required ? option.makeOptionMandatory() : option;
}

/** Number() accepts "", " " and "0x10"; a flag value is digits, optionally a fraction. */
function decimal(value: string): number {
  return /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
}

/** 0, 1, 2, ... */
export function wholeNumberArg(value: string): number {
  const n = decimal(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}.`);
  return n;
}

/** 1, 2, 3, ... */
export function positiveWholeNumberArg(value: string): number {
  const n = decimal(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got ${JSON.stringify(value)}.`);
  return n;
}

/** A number of seconds or days: more than 0, fractions allowed. */
export function positiveNumberArg(value: string): number {
  const n = decimal(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(value)}.`);
  return n;
}

/** A fraction from 0 to 1. */
export function ratioArg(value: string): number {
  const n = decimal(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a number from 0 to 1, got ${JSON.stringify(value)}.`);
  return n;
}

/** A TCP port. */
export function portArg(value: string): number {
  const n = decimal(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`expected a port from 1 to 65535, got ${JSON.stringify(value)}.`);
  return n;
}

/** Milliseconds, from compose's duration syntax (10s, 1m30s, 500ms). */
export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new InvalidArgumentError(`expected a duration such as 10s, 6h or 1m30s, got ${JSON.stringify(value)}.`);
  }
}

/** A repeatable option (`-f a -f b`): every value, in the order given. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
