/**
 * The encryption key `dockflow dev` creates for itself, so the embedded setup
 * (`npm start`) keeps environment values out of Temporal's history without
 * any configuration, and the CLI run beside it finds the same key.
 *
 * The key lives in `<state dir>/keys/encryption.key`: 32 random bytes in
 * base64, file mode 0600 in a directory of mode 0700, created once and reused
 * on every later start (the history under the state dir stays readable only
 * with it).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
// ./keys, not ./codec: `dockflow ps` reads the CLI's keys without loading the Temporal SDK.
import { keysFromEnv, type EncryptionKey } from './keys';

/** `dockflow dev`'s default --state-dir, relative to the directory it runs in. */
export const DEFAULT_DEV_STATE_DIR = '.dockflow';

export function devKeyFile(stateDir: string): string {
  return path.join(stateDir, 'keys', 'encryption.key');
}

export interface DevKey {
  file: string;
  keys: EncryptionKey[];
  /** True when this call created the file, false when it reused one. */
  created: boolean;
}

/**
 * The dev key under `stateDir`, created when absent. Creation is atomic (a
 * temporary file linked into place), so two starts at once agree on one key.
 * A key file other users can read is refused rather than used: its secrecy
 * is all the encryption is worth.
 */
export function ensureDevKey(stateDir: string): DevKey {
  const file = devKeyFile(stateDir);
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The directory is dockflow's own: tighten it even when an older run or a umask left it open.
  fs.chmodSync(dir, 0o700);
  let created = false;
  if (!fs.existsSync(file)) {
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const text = `# dockflow dev: payload encryption key, created ${new Date().toISOString()}.\n# Temporal's history under this state directory can only be read with it: keep it, keep it private.\n${randomBytes(32).toString('base64')}\n`;
    fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(temp, file);
      created = true;
    } catch (err) {
      // Another start linked its key first: use that one.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`${file} can be read by other users (mode ${mode.toString(8).padStart(4, '0')}); restrict it with: chmod 600 ${file}`);
  }
  return { file, keys: keysFromEnv({ DOCKFLOW_ENCRYPTION_KEY_FILE: file }), created };
}

/**
 * What a running `dockflow dev` tells CLI commands started in the same
 * directory: the port its Temporal server listens on and the key its worker
 * uses (none with --insecure-plain-payloads). Written at every start.
 */
export interface DevServerRecord {
  port: number;
  keyFile?: string;
}

export function devServerRecordFile(stateDir: string): string {
  return path.join(stateDir, 'dev-server.json');
}

export function writeDevServerRecord(stateDir: string, record: DevServerRecord): void {
  const file = devServerRecordFile(stateDir);
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** The port of a Temporal address on this machine (localhost, 127.0.0.0/8, ::1); undefined for any other host. */
export function loopbackPort(address: string): number | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address.trim());
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const local = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return local ? Number(match[3]) : undefined;
}

/**
 * The keys a CLI command talking to Temporal at `address` uses:
 * DOCKFLOW_ENCRYPTION_KEY(_FILE) when set; otherwise the key of the
 * `dockflow dev` whose state dir is `./.dockflow` in the current directory,
 * when `address` is that dev server (a loopback address with the port it
 * recorded, as the default localhost:7233 is for the default dev server).
 * Any other server never gets the dev key: its workers could not read what
 * the CLI sent.
 */
export function cliKeys(address: string, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): EncryptionKey[] {
  const configured = keysFromEnv(env);
  if (configured.length > 0) return configured;
  const port = loopbackPort(address);
  const recordFile = devServerRecordFile(path.resolve(cwd, DEFAULT_DEV_STATE_DIR));
  if (port === undefined || !fs.existsSync(recordFile)) return [];
  let record: DevServerRecord;
  try {
    record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as DevServerRecord;
  } catch (err) {
    throw new Error(`${recordFile} cannot be read (${(err as Error).message}); delete it, \`dockflow dev\` writes it again at its next start`);
  }
  if (record.port !== port || !record.keyFile) return [];
  return keysFromEnv({ DOCKFLOW_ENCRYPTION_KEY_FILE: record.keyFile });
}
