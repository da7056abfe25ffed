/**
 * Where dockflow finds Temporal and Docker. Every setting has an environment
 * variable and a default, so the same binaries run on a laptop and in a
 * production worker container.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TemporalSettings {
  /** TEMPORAL_ADDRESS, default "localhost:7233". */
  address: string;
  /** TEMPORAL_NAMESPACE, default "default". */
  namespace: string;
  /** DOCKFLOW_TASK_QUEUE, default "dockflow". */
  taskQueue: string;
}

export const DEFAULT_TASK_QUEUE = 'dockflow';

export function temporalSettings(env: Record<string, string | undefined> = process.env): TemporalSettings {
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.DOCKFLOW_TASK_QUEUE || DEFAULT_TASK_QUEUE,
  };
}

/** The Temporal CLI version the project's test bed builds (scripts/testbed.sh). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/**
 * The Temporal CLI binary to run the dev server with: TEMPORAL_CLI_PATH, then
 * the test bed's cache, then `temporal` on PATH. Undefined means "let the
 * SDK download it" (a machine with internet access).
 */
export function findTemporalCli(env: Record<string, string | undefined> = process.env): string | undefined {
  const candidates = [
    env.TEMPORAL_CLI_PATH,
    path.join(env.DOCKFLOW_CACHE_DIR || path.join(os.homedir(), '.cache', 'dockflow'), `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal'),
    ...(env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'temporal')),
  ];
  return candidates.find((c): c is string => !!c && isExecutable(c));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
