/**
 * Commands for watching and setting up rather than changing the stack:
 * `setup` (search attributes on an existing cluster), `watch` (follow any
 * operation live) and `status`/`ps` (containers, current revision, running
 * operations: ./status-command.ts).
 */
import type { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { temporalSettings, type TemporalSettings } from '../temporal/settings';
import type { Progress } from '../messages';
import { outputAwarePrinter } from './backup-shared';
import { registerStatusCommand, write } from './status-command';

/**
 * What setup and watch run with (the Temporal client), loaded once one of them
 * runs rather than at every CLI start (see main.ts).
 */
async function loadRuntime() {
  const [{ WorkflowFailedError }, { connectClient }, { failureMessage, follow }, { PROJECT_ATTRIBUTE }] = await Promise.all([
    import('@temporalio/client'),
    import('../client/connect'),
    import('../client/operations'),
    import('../temporal/search-attributes'),
  ]);
  return { WorkflowFailedError, connectClient, failureMessage, follow, PROJECT_ATTRIBUTE };
}
let loadedRuntime: ReturnType<typeof loadRuntime> | undefined;
const runtime = () => (loadedRuntime ??= loadRuntime());

async function connect(settings: TemporalSettings, connectTimeout?: Duration) {
  const { connectClient } = await runtime();
  return connectClient(settings, connectTimeout ? { connectTimeout } : {});
}

export function registerOperatorCommands(program: Command): void {
  program
    .command('setup')
    .description('prepare a Temporal namespace for dockflow: create it when the cluster lacks it, register its search attributes (DockflowProject, DockflowOperation)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe embedded dev server (dockflow dev) registers them itself; run this once for any other cluster.\nExample:\n  TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=ops dockflow setup')
    .action(async (opts) => {
      const [{ ensureNamespace, NAMESPACE_RETENTION_DAYS, NEW_NAMESPACE_GRACE_MS, registerSearchAttributes }, { PROJECT_ATTRIBUTE }] = await Promise.all([import('../temporal/setup'), runtime()]);
      const settings = temporalSettings();
      const { connection } = await connect(settings);
      try {
        const created = await ensureNamespace(connection.workflowService, settings.namespace);
        const result = { ...(await registerSearchAttributes(connection.operatorService, settings.namespace, created ? NEW_NAMESPACE_GRACE_MS : 0)), namespaceCreated: created };
        const text = [
          ...(created ? [`created namespace ${result.namespace} (retention ${NAMESPACE_RETENTION_DAYS} days)`] : []),
          result.added.length ? `registered ${result.added.join(', ')} in namespace ${result.namespace}` : `namespace ${result.namespace} already has ${result.present.join(', ')}`,
          `filter in the UI with e.g. ${PROJECT_ATTRIBUTE.name} = "shop"`,
        ].join('\n');
        write(Boolean(opts.json), result, text);
      } finally {
        await connection.close();
      }
    });

  program
    .command('watch')
    .description('follow any dockflow operation live (started from the CLI, the UI or a Schedule) until it ends')
    .argument('<workflow-id>', 'the operation\'s workflow ID')
    .option('--json', 'print the final result and progress as JSON instead of the live view')
    .addHelpText('after', '\nExit code: 0 when the operation completed, 1 when it failed or was cancelled.\nExample:\n  dockflow watch deploy-shop-20261122-120501-123')
    .action(async (workflowId: string, opts) => {
      const { failureMessage, follow, WorkflowFailedError } = await runtime();
      const settings = temporalSettings();
      const { connection, client } = await connect(settings);
      try {
        const handle: WorkflowHandle = client.workflow.getHandle(workflowId);
        const description = await handle.describe().catch((err) => {
          throw new Error(`no operation ${workflowId} in namespace ${settings.namespace}: ${failureMessage(err)}`);
        });
        if (!opts.json) process.stderr.write(`${description.type} ${workflowId} (${description.status.name.toLowerCase()})\n`);
        let last: Progress | undefined;
        const printer = opts.json ? () => undefined : outputAwarePrinter();
        try {
          const result = await follow<unknown>(handle, (p) => {
            last = p;
            printer(p);
          });
          write(Boolean(opts.json), { workflowId, type: description.type, status: 'COMPLETED', result, progress: last }, `${description.type} ${workflowId} completed${last ? `: ${last.phase}` : ''}`);
        } catch (err) {
          const message = last?.phase.includes('was cancelled') ? last.phase : failureMessage(err);
          if (opts.json) {
            write(true, { workflowId, type: description.type, status: err instanceof WorkflowFailedError ? 'FAILED' : 'ENDED', error: message, progress: last }, '');
            process.exitCode = 1;
            return;
          }
          throw new Error(message);
        }
      } finally {
        await connection.close();
      }
    });

  registerStatusCommand(program);
}
