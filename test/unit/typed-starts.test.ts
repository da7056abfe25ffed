/**
 * Typed workflow starts (src/client/typed-starts.ts): the operation's input
 * is the workflow's single argument, the options pass through, and a start
 * with another operation's input does not type-check (the @ts-expect-error
 * lines fail `npm run typecheck` when the check goes away).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowClient } from '@temporalio/client';
import { executeOperation, startOperation } from '../../src/client/typed-starts';
import { startDeploy, startHistory } from '../../src/client/operations';

/** Records what would be sent to Temporal; no server in a unit test. */
function recordingClient() {
  const calls: { method: string; type: string; options: Record<string, unknown> }[] = [];
  const client = {
    start: async (type: string, options: Record<string, unknown>) => {
      calls.push({ method: 'start', type, options });
      return { workflowId: options.workflowId };
    },
    execute: async (type: string, options: Record<string, unknown>) => {
      calls.push({ method: 'execute', type, options });
      return [];
    },
  } as unknown as WorkflowClient;
  return { client, calls };
}

describe('typed workflow starts', () => {
  it('starts the operation with its input as the single argument', async () => {
    const { client, calls } = recordingClient();
    await startOperation(client, 'down', { taskQueue: 'q', workflowId: 'down-shop-1', input: { project: 'shop', volumes: false } });
    assert.deepEqual(calls, [{ method: 'start', type: 'down', options: { taskQueue: 'q', workflowId: 'down-shop-1', args: [{ project: 'shop', volumes: false }] } }]);
  });

  it('passes the other start options through, and executes for a result', async () => {
    const { client, calls } = recordingClient();
    const entries = await executeOperation(client, 'history', { taskQueue: 'q', workflowId: 'history-shop-1', input: { project: 'shop' }, workflowExecutionTimeout: '15s' });
    assert.deepEqual(entries, []);
    assert.deepEqual(calls, [{ method: 'execute', type: 'history', options: { taskQueue: 'q', workflowId: 'history-shop-1', workflowExecutionTimeout: '15s', args: [{ project: 'shop' }] } }]);
  });

  it('is what the CLI\'s start helpers use: a plan for --dry-run, the operation otherwise', async () => {
    const { client, calls } = recordingClient();
    const spec = { project: 'shop', services: {}, networks: {}, volumes: {} } as never;
    await startDeploy(client, 'q', 'shop', { spec, dryRun: true });
    await startHistory(client, 'q', { project: 'shop' });
    assert.deepEqual(calls.map((c) => [c.type, String(c.options.workflowId).split('-').slice(0, 2).join('-'), c.options.args]), [
      ['deploy', 'plan-shop', [{ spec, dryRun: true }]],
      ['history', 'history-shop', [{ project: 'shop' }]],
    ]);
  });

  it('rejects another operation\'s input at compile time', () => {
    const { client } = recordingClient();
    const typeErrors = () => {
      // @ts-expect-error: a history input is not a restore input (backupId missing)
      void startOperation(client, 'restore', { taskQueue: 'q', workflowId: 'w', input: { project: 'shop' } });
      // @ts-expect-error: not a dockflow operation
      void startOperation(client, 'deploiy', { taskQueue: 'q', workflowId: 'w', input: { project: 'shop' } });
    };
    assert.equal(typeof typeErrors, 'function');
  });
});
