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

export async function connectClient(settings: TemporalSettings, options: { connectTimeout?: Duration } = {}): Promise<TemporalClient> {
  const connection = await Connection.connect({ ...sdkConnectionOptions(settings), ...(options.connectTimeout ? { connectTimeout: options.connectTimeout } : {}) });
  const client = new Client({ connection, namespace: settings.namespace, dataConverter: cliDataConverter(settings.address) });
  return { client, connection, close: () => connection.close() };
}
