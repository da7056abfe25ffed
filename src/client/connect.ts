/**
 * The one way dockflow's client side connects to Temporal: the CLI's
 * commands, the backup client and scripts all go through connectClient, so
 * every client talks to the namespace the settings name, over their TLS and
 * API key (sdkConnectionOptions), with the CLI's data
 * converter (the payload codec when a key is set, src/temporal/dev-key.ts).
 * (`dockflow ps` first tries ./light-temporal.ts, which reads the same
 * namespace with the same keys, cliKeys, without the SDK.)
 */
import { Client, Connection } from '@temporalio/client';
import type { DataConverter, Duration } from '@temporalio/common';
import { sdkConnectionOptions, type TemporalSettings } from '../temporal/settings';
import { cliKeys } from '../temporal/dev-key';
import { dataConverterForKeys } from '../temporal/codec';

export interface TemporalClient {
  /** `client.workflow` starts and finds workflows; `client.schedule` manages Schedules. */
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

/** The data converter of CLI commands (cliKeys: the configured key, or the local dev server's); undefined: plain payloads. */
export function cliDataConverter(address: string, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): DataConverter | undefined {
  return dataConverterForKeys(cliKeys(address, env, cwd));
}

/**
 * Why a connection failed, in words a user can act on: the SDK says only
 * "Failed to connect before the deadline" when the TLS handshake fails, and
 * puts the server's answer (UNAUTHENTICATED: a wrong API key) in the cause.
 * With TLS set, one handshake of our own (node:tls, the same settings) tells
 * which: the certificate Node refused, or a handshake that works.
 */
export async function connectFailure(settings: TemporalSettings, err: unknown): Promise<Error> {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  let message = `cannot connect to Temporal at ${settings.address}: ${err instanceof Error ? err.message : String(err)}${cause}`;
  if (settings.tls) {
    const { GrpcConnection } = await import('./wire');
    try {
      (await GrpcConnection.connect(settings.address, 3_000, { tls: settings.tls })).close();
    } catch (probe) {
      message += `; the TLS handshake fails: ${(probe as Error).message} (check DOCKFLOW_TEMPORAL_TLS_CA, _TLS_SERVER_NAME, _TLS_CERT and _TLS_KEY, or the TEMPORAL_TLS_* equivalents)`;
    }
  }
  // No `cause`: failureMessage (rootMessage) would print the SDK's words instead of these.
  return new Error(message);
}

export async function connectClient(settings: TemporalSettings, options: { connectTimeout?: Duration } = {}): Promise<TemporalClient> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...sdkConnectionOptions(settings), ...(options.connectTimeout ? { connectTimeout: options.connectTimeout } : {}) });
  } catch (err) {
    throw await connectFailure(settings, err);
  }
  const client = new Client({ connection, namespace: settings.namespace, dataConverter: cliDataConverter(settings.address) });
  return { client, connection, close: () => connection.close() };
}
