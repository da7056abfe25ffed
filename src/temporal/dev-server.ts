/**
 * The embedded Temporal dev server (`dockflow dev`, `npm start`, tests): the
 * Temporal CLI's dev server with its UI, through @temporalio/testing.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { findTemporalCli } from './settings';
import { devServerSearchAttributeArgs } from './search-attributes';

export interface DevServerOptions {
  /** SQLite file to persist to; in-memory when absent. */
  dbFilename?: string;
  ip?: string;
  /** gRPC port; a free one when absent. */
  port?: number;
  /** UI port; no UI when absent. */
  uiPort?: number;
  namespace?: string;
  /** The codec server the UI calls to show encrypted payloads in clear (`dockflow codec-server`). */
  uiCodecEndpoint?: string;
  /** Register dockflow's search attributes at start (default true); false gives a bare namespace, as `dockflow setup` meets one. */
  searchAttributes?: boolean;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const cli = findTemporalCli();
  return TestWorkflowEnvironment.createLocal({
    server: {
      ...(cli ? { executable: { type: 'existing-path', path: cli } } : {}),
      ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}),
      ip: options.ip ?? '127.0.0.1',
      ...(options.port ? { port: options.port } : {}),
      ...(options.uiPort ? { ui: true, uiPort: options.uiPort } : {}),
      namespace: options.namespace ?? 'default',
      // Registered at start, so workflows can set them from their first task.
      extraArgs: [
        ...(options.searchAttributes === false ? [] : devServerSearchAttributeArgs()),
        ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
      ],
    },
  });
}
