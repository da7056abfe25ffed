import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { RetryableFailure } from '../src/errors';
import { createComposeActivities } from './compose';
import { createDockerActivities } from './docker';
import { createBatchActivities } from './batch';
import { createLedgerActivities } from './ledger';
import { createTemporalActivities } from './temporal';
import { createBackupActivities } from './backup';
import { createPolicyActivities } from './policy';
import { createHostActivities } from './hosts';
import type { WorkflowClient } from '@temporalio/client';
import { createNotifyActivities } from './notify';
import type { NotifyTarget } from '../src/notify/targets';

export interface ActivityDeps {
  docker: Docker;
  /** Environment used to interpolate compose files loaded on the worker. Default process.env. */
  env?: Record<string, string | undefined>;
  pollIntervalMs?: number;
  /** Where the revision ledger lives; default DOCKFLOW_STATE_DIR or /var/lib/dockflow. */
  stateDir?: string;
  /** A Temporal client for activities that look at other workflows (the project lock's holder). */
  temporal?: () => Promise<WorkflowClient>;
  /** Notification targets (parsed DOCKFLOW_NOTIFY, src/notify/targets.ts); default none. */
  notify?: readonly NotifyTarget[];
}

/** How often every running activity tells Temporal its worker is alive. */
export const LIVENESS_HEARTBEAT_MS = 1000;

/**
 * Every activity heartbeats while it runs, whatever it is doing, so a worker
 * that dies is noticed within the heartbeat timeout (seconds) instead of the
 * start-to-close timeout (minutes), and its work is retried on another worker.
 */
function withLiveness<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T, docker: Docker): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      let context: Context | undefined;
      try {
        context = Context.current();
      } catch {
        // Called directly (tests, the CLI's status): nothing to heartbeat to.
      }
      // A local activity cannot heartbeat (the server does not know it; core logs
      // UnknownActivity for each beat): its liveness is the workflow task's.
      const beats = context !== undefined && !context.info.isLocal;
      const timer = beats ? setInterval(() => context!.heartbeat(), LIVENESS_HEARTBEAT_MS) : undefined;
      try {
        return await fn(...args);
      } catch (err) {
        if (!isDaemonUnreachable(err)) throw err;
        // Fail this attempt only once the engine answers again, so a daemon
        // restart costs one attempt instead of the whole retry budget.
        const back = await waitForDaemon(docker, context);
        throw ApplicationFailure.retryable(
          `the Docker engine was unreachable (${(err as Error).message})${back ? '; it answers again, retrying' : ' and still does not answer'}`,
          DAEMON_UNREACHABLE,
        );
      } finally {
        if (timer) clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}

/** The retryable failure type of an activity attempt that lost the Docker engine. */
export const DAEMON_UNREACHABLE = RetryableFailure.dockerUnreachable;

/** Socket-level errors: the engine is restarting or gone, not refusing what we asked. */
export function isDaemonUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(code)) {
    // ENOENT from a file activity is not the engine: only count it for the socket.
    return code !== 'ENOENT' || /docker\.sock|connect ENOENT/.test(String((err as Error).message));
  }
  return err instanceof Error && /socket hang up|connect ECONNREFUSED/.test(err.message);
}

/** How long an activity waits for a restarting engine before giving the retry back to Temporal. */
const DAEMON_WAIT_MS = 120_000;

async function waitForDaemon(docker: Docker, context: Context | undefined): Promise<boolean> {
  const deadline = Date.now() + DAEMON_WAIT_MS;
  while (Date.now() < deadline) {
    if (context?.cancellationSignal.aborted) return false;
    try {
      await docker.ping();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return false;
}

/** Every activity the dockflow worker registers, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  const dockerActivities = createDockerActivities({ docker: deps.docker, pollIntervalMs: deps.pollIntervalMs });
  return withLiveness(
    {
    ...createComposeActivities(deps.env),
    ...dockerActivities,
    ...createBatchActivities(dockerActivities),
    ...createLedgerActivities({ docker: deps.docker, stateDir: deps.stateDir }),
    ...createBackupActivities({ docker: deps.docker, stateDir: deps.stateDir, pollIntervalMs: deps.pollIntervalMs }),
    ...createPolicyActivities(),
    ...createNotifyActivities(deps.notify ?? []),
    ...createHostActivities({ docker: deps.docker }),
    ...createTemporalActivities({
      client:
        deps.temporal ??
        (() => {
          throw new Error('this worker was built without a Temporal client; pass `temporal` to createActivities');
        }),
    }),
    },
    deps.docker,
  );
}

export type Activities = ReturnType<typeof createActivities>;
