/**
 * One-off containers of a service, followed to their exit: what migrations
 * (workflows/migrate.ts) and deploy hooks (workflows/hooks.ts) run in.
 *
 * Exactly once: the container's name is deterministic (from the workflow
 * ID), and `startOneOff` never starts a container that already started, so a
 * worker killed while the command runs is replaced by one that re-attaches
 * to the same container and waits for its exit.
 */
import type { StackSpec } from '../src/model/spec';
import { serviceSlice } from '../src/model/slice';
import { MAX_OUTPUT_STEPS, outputStepTitle, shellQuote } from '../src/backup/output';
import type { OneOffInput } from '../activities/backup';
import type { ProgressTracker } from './progress';
import { LOCAL, onHost, type Route } from './apply';

/** How long one waitOneOff call waits before handing the output so far to the workflow. */
const OUTPUT_POLL_MS = 3000;

export interface OneOffOutcome {
  name: string;
  exitCode?: number;
  timedOut: boolean;
  tail: string;
}

export interface OneOffRun {
  service: string;
  imageId: string;
  name: string;
  kind: OneOffInput['kind'];
  command: string[];
  /** What the progress step calls it: "migration", "dry run", "pre_deploy hook". */
  label: string;
  env?: Record<string, string>;
  /** Workflow time after which the container is stopped and the outcome is timedOut. */
  deadline?: number;
}

/**
 * Start (exactly once) a one-off container and follow it to its exit, its
 * output becoming progress lines. `route` is where the service runs: this
 * workflow's own host by default; across hosts, the service's host.
 */
export async function runOneOff(spec: StackSpec, run: OneOffRun, operation: string, progress: ProgressTracker, route: Route & { name?: string } = LOCAL): Promise<OneOffOutcome> {
  const { service, imageId, name, command, kind } = run;
  const { docker, waits } = route;
  await progress.step(
    `start ${run.label} in one-off container ${name}${onHost(route.name)}: ${shellQuote(command)}`,
    () => docker.startOneOff({ spec: serviceSlice(spec, service), service, imageId, name, command, operation, kind, ...(run.env ? { env: run.env } : {}) }),
    { service, container: name },
  );
  let cursor: string | undefined;
  let shown = 0;
  for (;;) {
    const r = await waits.waitOneOff({ service, name, cursor, maxWaitMs: OUTPUT_POLL_MS });
    cursor = r.cursor ?? cursor;
    for (const line of r.lines) {
      if (shown < MAX_OUTPUT_STEPS) await progress.step(outputStepTitle(name, line), async () => undefined);
      else if (shown === MAX_OUTPUT_STEPS) await progress.step(outputStepTitle(name, `... further output only in docker logs ${name}`), async () => undefined);
      shown += 1;
    }
    if (r.exited) return { name, exitCode: r.exitCode, timedOut: false, tail: r.tail ?? '' };
    if (run.deadline !== undefined && Date.now() > run.deadline) {
      await progress.step(`stop ${name} (time limit reached)`, () => docker.stopOneOff({ name }));
      return { name, timedOut: true, tail: '' };
    }
  }
}
