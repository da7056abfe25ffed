/**
 * What `dockflow ps` asks Temporal and the worker about a project: its
 * running operations, its current revision (the worker host's ledger, through
 * the `history` workflow) and, with registered hosts, each host's revision.
 *
 * Two ways to ask, one answer. Light (src/client/light-temporal.ts: no SDK
 * loaded, what most runs of ps need) first; whatever it cannot answer as the
 * SDK would (a failure, a rejected query, an encoding it does not read, a
 * multi-host stack) is asked again through the SDK, which then words any
 * error exactly as before. A workflow the light client started is not
 * started again: the SDK reads that same run's outcome.
 */
import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { StackHosts } from '../../workflows/host-status';
import type { HistoryEntry } from '../../workflows/rollback';
import type { TemporalSettings } from '../temporal/settings';
import { progressQuery, type Progress } from '../messages';
import { operationId } from '../client/operation-id';
import { OPERATION_ATTRIBUTE_NAME, PROJECT_ATTRIBUTE_NAME } from '../temporal/attribute-names';
import type { LightTemporal } from '../client/light-temporal';

export interface RunningOperation {
  workflowId: string;
  operation: string;
  startTime: string;
  phase?: string;
  running?: string[];
}

export type Revision = { number: number; operation: string; createdAt: string; workflowId: string } | undefined;

/** The questions ps asks per project; each rejects as the SDK client does when Temporal or the worker does not answer. */
export interface StatusReads {
  running(project: string): Promise<RunningOperation[]>;
  revision(project: string): Promise<Revision>;
  hosts(project: string): Promise<StackHosts | undefined>;
  /** The message of a rejection of the above (the SDK's failureMessage). */
  failureMessage(err: unknown): Promise<string>;
  close(): Promise<void>;
}

/** The revision ps shows: the last ledger entry. */
function lastRevision(entries: HistoryEntry[]): Revision {
  const last = entries.at(-1);
  return last ? { number: last.number, operation: last.operation, createdAt: last.createdAt, workflowId: last.workflowId } : undefined;
}

const runningQuery = (project: string) => `${PROJECT_ATTRIBUTE_NAME} = '${project.replace(/'/g, "\\'")}' AND ExecutionStatus = 'Running'`;
const HOST_REGISTRATIONS_QUERY = `WorkflowType = 'hostRegistration' AND ExecutionStatus = 'Running'`;
/** The history workflow's bound: no worker, no answer within it. */
const HISTORY_TIMEOUT_SECONDS = 15;

async function sdkFailureMessage(err: unknown): Promise<string> {
  const { failureMessage } = await import('../client/operations');
  return failureMessage(err);
}

/** The SDK client, connected (what ps did before the light client, and still does when it cannot answer). */
export async function connectSdk(settings: TemporalSettings, connectTimeout: Duration): Promise<StatusReads & { client: Client }> {
  const [{ connectClient }, { executeOperation }, { stackHostsStatus }, { OPERATION_ATTRIBUTE }] = await Promise.all([
    import('../client/connect'),
    import('../client/typed-starts'),
    import('../client/hosts'),
    import('../temporal/search-attributes'),
  ]);
  const { client, close } = await connectClient(settings, { connectTimeout });
  return {
    client,
    failureMessage: sdkFailureMessage,
    close,
    async running(project) {
      const found: RunningOperation[] = [];
      for await (const wf of client.workflow.list({ query: runningQuery(project) })) {
        const op: RunningOperation = {
          workflowId: wf.workflowId,
          operation: String(wf.typedSearchAttributes.get(OPERATION_ATTRIBUTE) ?? wf.type),
          startTime: wf.startTime.toISOString(),
        };
        try {
          const progress = await client.workflow.getHandle(wf.workflowId, wf.runId).query(progressQuery);
          op.phase = progress.phase;
          op.running = progress.steps.filter((s) => s.state === 'running').map((s) => s.title);
        } catch {
          // no worker answering right now: the list entry is still true
        }
        found.push(op);
      }
      return found;
    },
    async revision(project) {
      const history = await executeOperation(client.workflow, 'history', {
        taskQueue: settings.taskQueue,
        workflowId: operationId('history', project),
        input: { project },
        workflowExecutionTimeout: `${HISTORY_TIMEOUT_SECONDS}s`,
      });
      // Asked without hosts: this worker's ledger, a plain list.
      return lastRevision(Array.isArray(history) ? history : history.revisions);
    },
    hosts: (project) => stackHostsStatus(client.workflow, settings.taskQueue, project),
  };
}

/** The light client's answers, each asked again through the SDK (connected once, when first needed) when it has none. */
export function lightReads(light: LightTemporal, settings: TemporalSettings): StatusReads {
  let sdk: ReturnType<typeof connectSdk> | undefined;
  // Connected once Temporal answered the light client: the SDK's connect is not the one that may time out.
  const viaSdk = () => (sdk ??= connectSdk(settings, '10s'));
  let registrations: Promise<number | undefined> | undefined;
  return {
    failureMessage: sdkFailureMessage,
    async close() {
      light.close();
      if (sdk) await (await sdk.catch(() => undefined))?.close();
    },
    async running(project) {
      let listed: Awaited<ReturnType<LightTemporal['list']>>;
      try {
        listed = await light.list(runningQuery(project));
      } catch {
        return (await viaSdk()).running(project);
      }
      return Promise.all(
        listed.map(async (wf) => {
          const attribute = wf.searchAttributes[OPERATION_ATTRIBUTE_NAME];
          const op: RunningOperation = { workflowId: wf.workflowId, operation: String(attribute ?? wf.type), startTime: wf.startTime.toISOString() };
          try {
            const progress = (await light.query(wf.workflowId, wf.runId, progressQuery.name)) as Progress;
            op.phase = progress.phase;
            op.running = progress.steps.filter((s) => s.state === 'running').map((s) => s.title);
          } catch {
            // no worker answering right now (or an answer only the SDK reads): the list entry is still true
          }
          return op;
        }),
      );
    },
    async revision(project) {
      const workflowId = operationId('history', project);
      let runId: string;
      try {
        runId = await light.start('history', { workflowId, taskQueue: settings.taskQueue, arg: { project }, executionTimeoutSeconds: HISTORY_TIMEOUT_SECONDS });
      } catch {
        // Nothing started: the SDK starts its own, and words its failure.
        return (await viaSdk()).revision(project);
      }
      try {
        return lastRevision((await light.result(workflowId, runId)) as HistoryEntry[]);
      } catch {
        // Failed, timed out, or a result only the SDK reads: the SDK reads that same run's outcome.
        const { client } = await viaSdk();
        return lastRevision(await client.workflow.getHandle<() => Promise<HistoryEntry[]>>(workflowId, runId).result());
      }
    },
    async hosts(project) {
      // Asked once for every project ps shows: the registered hosts are the namespace's.
      registrations ??= light.list(HOST_REGISTRATIONS_QUERY).then((found) => found.length, () => undefined);
      // No registered host (single-host mode): nothing more to ask. Any other answer, or none: the SDK's.
      if ((await registrations) === 0) return undefined;
      return (await viaSdk()).hosts(project);
    },
  };
}
