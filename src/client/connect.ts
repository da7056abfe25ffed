/**
 * The one way dockflow's client side connects to Temporal: the CLI's
 * commands, the backup client and scripts all go through connectClient, so
 * every client talks to the namespace the settings name with the CLI's data
 * converter (the payload codec when a key is set, src/temporal/dev-key.ts).
 */
import { Client, Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { TemporalSettings } from '../temporal/settings';
import { cliDataConverter } from '../temporal/dev-key';

export interface TemporalClient {
  /** `client.workflow` starts and finds workflows; `client.schedule` manages Schedules. */
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

export async function connectClient(settings: TemporalSettings, options: { connectTimeout?: Duration } = {}): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: settings.address, ...(options.connectTimeout ? { connectTimeout: options.connectTimeout } : {}) });
  const client = new Client({ connection, namespace: settings.namespace, dataConverter: cliDataConverter(settings.address) });
  return { client, connection, close: () => connection.close() };
}
