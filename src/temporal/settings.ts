/**
 * Where dockflow finds Temporal and Docker, and how it connects to Temporal
 * (TLS, mTLS, API key). Every setting has an environment variable and a
 * default, so the same binaries run on a laptop and in a production worker
 * container. Every connection to Temporal (CLI, worker, the activities'
 * client, `dockflow ps`'s light client) takes its options from here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * TLS towards Temporal, the files already read: a CA to trust (else the
 * system's roots), a client certificate and key (mTLS), the name to check the
 * server's certificate against (else the address's host).
 */
export interface TemporalTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
}

export interface TemporalSettings {
  /** TEMPORAL_ADDRESS, default "localhost:7233". */
  address: string;
  /** TEMPORAL_NAMESPACE, default "default". */
  namespace: string;
  /** DOCKFLOW_TASK_QUEUE, default "dockflow". */
  taskQueue: string;
  /** Absent: plain text (a local dev server). See temporalTls. */
  tls?: TemporalTls;
  /** DOCKFLOW_TEMPORAL_API_KEY or TEMPORAL_API_KEY: sent as `authorization: Bearer <key>` on every call. */
  apiKey?: string;
}

export const DEFAULT_TASK_QUEUE = 'dockflow';

/** A connection setting that cannot work: its message names the variable (and the file). Raised before any connection. */
export class TemporalSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalSettingsError';
  }
}

/** Throws TemporalSettingsError when a TLS or API key setting is wrong (a file missing, a certificate without its key). */
export function temporalSettings(env: Record<string, string | undefined> = process.env): TemporalSettings {
  const apiKey = setting(env, 'API_KEY');
  const tls = temporalTls(env, apiKey !== undefined);
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.DOCKFLOW_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    ...(tls ? { tls } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

/** One setting: DOCKFLOW_TEMPORAL_<name>, else the temporal CLI's TEMPORAL_<name>; which variable it came from, for messages. */
function settingFrom(env: Record<string, string | undefined>, name: string): { variable: string; value: string } | undefined {
  for (const variable of [`DOCKFLOW_TEMPORAL_${name}`, `TEMPORAL_${name}`]) {
    const value = env[variable];
    if (value !== undefined && value !== '') return { variable, value };
  }
  return undefined;
}

function setting(env: Record<string, string | undefined>, name: string): string | undefined {
  return settingFrom(env, name)?.value;
}

function readPem(found: { variable: string; value: string }, what: string, marker: RegExp): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(found.value);
  } catch (err) {
    throw new TemporalSettingsError(`${found.variable}=${found.value}: cannot read the ${what} file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!marker.test(data.toString('latin1'))) throw new TemporalSettingsError(`${found.variable}=${found.value}: not a PEM ${what} (no "-----BEGIN ...-----" line)`);
  return data;
}

/**
 * TLS is on when a CA, client certificate or server name is set, when an API
 * key is (as the SDK and the temporal CLI do: a key is a secret, not sent in
 * clear), or with DOCKFLOW_TEMPORAL_TLS / TEMPORAL_TLS=true (system roots);
 * =false forces plain text, and is refused beside a TLS file.
 */
function temporalTls(env: Record<string, string | undefined>, hasApiKey: boolean): TemporalTls | undefined {
  const flag = settingFrom(env, 'TLS');
  const ca = settingFrom(env, 'TLS_CA');
  const cert = settingFrom(env, 'TLS_CERT');
  const key = settingFrom(env, 'TLS_KEY');
  const serverName = setting(env, 'TLS_SERVER_NAME');
  let enabled: boolean | undefined;
  if (flag) {
    if (!/^(true|false|1|0)$/i.test(flag.value)) throw new TemporalSettingsError(`${flag.variable}=${flag.value}: expected true or false`);
    enabled = /^(true|1)$/i.test(flag.value);
  }
  if (cert && !key) throw new TemporalSettingsError(`${cert.variable} is set but no client key: set DOCKFLOW_TEMPORAL_TLS_KEY (or TEMPORAL_TLS_KEY) to the key of ${cert.value}`);
  if (key && !cert) throw new TemporalSettingsError(`${key.variable} is set but no client certificate: set DOCKFLOW_TEMPORAL_TLS_CERT (or TEMPORAL_TLS_CERT) beside the key ${key.value}`);
  const files = [ca, cert, key].filter((f) => f !== undefined);
  if (enabled === false && (files.length > 0 || serverName)) {
    throw new TemporalSettingsError(`${flag?.variable}=false, but ${[...files.map((f) => f.variable), ...(serverName ? ['the TLS server name'] : [])].join(', ')} set: remove one or the other`);
  }
  if (!(enabled ?? (files.length > 0 || serverName !== undefined || hasApiKey))) return undefined;
  return {
    ...(ca ? { ca: readPem(ca, 'CA certificate', /-----BEGIN [A-Z0-9 ]*CERTIFICATE-----/) } : {}),
    ...(cert && key
      ? { cert: readPem(cert, 'client certificate', /-----BEGIN [A-Z0-9 ]*CERTIFICATE-----/), key: readPem(key, 'client key', /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/) }
      : {}),
    ...(serverName ? { serverName } : {}),
  };
}

/** The options of the SDK's Connection.connect and NativeConnection.connect for these settings (TLS and API key included). */
export function sdkConnectionOptions(settings: TemporalSettings): {
  address: string;
  tls: false | { serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer }; serverNameOverride?: string };
  apiKey?: string;
} {
  const { tls } = settings;
  return {
    address: settings.address,
    // false, not undefined: without TLS settings the connection is plain even with an API key the caller added.
    tls: tls
      ? {
          ...(tls.ca ? { serverRootCACertificate: tls.ca } : {}),
          ...(tls.cert && tls.key ? { clientCertPair: { crt: tls.cert, key: tls.key } } : {}),
          ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
        }
      : false,
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
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
