/**
 * Waits: until a container is healthy, until a one-shot container exited 0,
 * and the check after a monitor window. They poll Docker, heartbeat, and stop
 * when Temporal cancels them.
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../src/errors';
import { heartbeat, inspectOrUndefined, logTail, NOT_STARTED, sleep, throwIfCancelled } from './shared';
import { startContainer } from './container-ops';
import { HealthEvents } from './health-events';

export interface WaitInput {
  service: string;
  name: string;
  /** Give up this long after the container started (Docker's StartedAt), so retries keep the same deadline. */
  budgetMs: number;
}

/** How often one wait starts a container again that something outside stopped (see restartIfStoppedFromOutside). */
const MAX_RESTARTS_AFTER_OUTSIDE_STOP = 3;

export function createWaitActivities({ docker, pollIntervalMs }: { docker: Docker; pollIntervalMs: number }) {
  /**
   * Every level of a depends_on chain waits on this poll before the next
   * level is created, so half an interval on average adds up along the chain
   * (measured with bench/deploy-timeline.ts); an inspect costs a few ms.
   */
  const healthPollMs = Math.min(pollIntervalMs, 250);
  /** Ends a health wait's sleep when the engine reports the container's health changed (./health-events.ts). */
  const healthEvents = new HealthEvents(docker);

  /**
   * A container this operation is waiting for that was stopped by SIGTERM or
   * SIGKILL without running out of memory was stopped from outside: most
   * often by a restart of the Docker daemon (without live-restore it stops
   * every container and starts only those with a restart policy), or by a
   * `docker stop` during the deploy. The desired state is "running", so it is
   * started again, a few times at most, instead of failing the deploy for
   * something the service did not do.
   */
  async function restartIfStoppedFromOutside(input: WaitInput, info: Docker.ContainerInspectInfo, restartsSoFar: number): Promise<boolean> {
    const state = info.State;
    if (state.Running || state.Restarting || state.OOMKilled || state.StartedAt === NOT_STARTED) return false;
    if (state.ExitCode !== 137 && state.ExitCode !== 143) return false;
    if (restartsSoFar >= MAX_RESTARTS_AFTER_OUTSIDE_STOP) return false;
    heartbeat({ step: `start ${input.name} again (stopped from outside with code ${state.ExitCode})` });
    await startContainer(docker, input.service, info.Id, input.name);
    return true;
  }

  /** Until the container is healthy; fails on unhealthy, exit, or the budget measured from its start. */
  async function waitHealthy(input: WaitInput): Promise<void> {
    let restarts = 0;
    for (;;) {
      const mark = healthEvents.mark(input.name);
      const info = await inspectOrUndefined(docker, input.name);
      if (!info) throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is gone`, ErrorType.unhealthy);
      const health = info.State.Health;
      if (!health) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} has no healthcheck, so it can never become healthy (add a healthcheck: or use condition: service_started)`,
          ErrorType.unhealthy,
        );
      }
      const lastOutput = (health.Log ?? []).at(-1)?.Output?.trim() ?? '';
      if (health.Status === 'healthy') return;
      if (await restartIfStoppedFromOutside(input, info, restarts)) {
        restarts += 1;
        continue;
      }
      if (!info.State.Running && !info.State.Restarting) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} exited with code ${info.State.ExitCode} before becoming healthy; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      if (health.Status === 'unhealthy') {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} is unhealthy after ${health.FailingStreak} failed checks; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      const started = Date.parse(info.State.StartedAt);
      if (Number.isFinite(started) && Date.now() - started > input.budgetMs) {
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: container ${input.name} still "${health.Status}" ${Math.round(input.budgetMs / 1000)} s after it started; last health output: ${lastOutput || '(none)'}`,
          ErrorType.unhealthy,
        );
      }
      heartbeat({ step: `wait healthy ${input.name}`, status: health.Status });
      await healthEvents.sleep(input.name, healthPollMs, mark);
      throwIfCancelled();
    }
  }

  return {
    /**
     * Wait until Docker reports the container healthy. Docker applies the
     * healthcheck's interval, retries and start_period itself; the budget is a
     * safety net for a container stuck in "starting".
     */
    waitHealthy,

    /** Wait for a one-shot container to exit 0 (service_completed_successfully). */
    async waitCompleted(input: WaitInput): Promise<void> {
      let restarts = 0;
      for (;;) {
        const info = await inspectOrUndefined(docker, input.name);
        if (!info) throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is gone`, ErrorType.jobFailed);
        if (await restartIfStoppedFromOutside(input, info, restarts)) {
          restarts += 1;
          continue;
        }
        if (!info.State.Running && !info.State.Restarting && info.State.StartedAt !== NOT_STARTED) {
          if (info.State.ExitCode === 0) return;
          const tail = await logTail(docker, info.Id, 20);
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: ${input.name} exited with code ${info.State.ExitCode}; last log lines:\n${tail}`,
            ErrorType.jobFailed,
          );
        }
        const started = Date.parse(info.State.StartedAt);
        if (Number.isFinite(started) && started > 0 && Date.now() - started > input.budgetMs) {
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: ${input.name} still running ${Math.round(input.budgetMs / 1000)} s after it started`,
            ErrorType.jobFailed,
          );
        }
        heartbeat({ step: `wait completed ${input.name}` });
        await sleep(pollIntervalMs);
        throwIfCancelled();
      }
    },

    /** After a monitor window: the container must still run, and be healthy if it has a healthcheck. */
    async checkContainer(input: { service: string; name: string; budgetMs?: number }): Promise<void> {
      const budgetMs = input.budgetMs ?? 120_000;
      let info = await inspectOrUndefined(docker, input.name);
      if (info && (await restartIfStoppedFromOutside({ ...input, budgetMs }, info, 0))) info = await inspectOrUndefined(docker, input.name);
      // "starting" again after being healthy means it was restarted (by us just now, or by its
      // restart policy after a daemon restart): judge it by the health it reaches, not mid-way.
      if (info?.State.Running && info.State.Health?.Status === 'starting') {
        await waitHealthy({ ...input, budgetMs });
        return;
      }
      if (!info || !info.State.Running) {
        const tail = info ? await logTail(docker, info.Id, 10) : '';
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: ${input.name} stopped during the monitor window${info ? ` (exit code ${info.State.ExitCode})` : ''}${tail ? `; last log lines:\n${tail}` : ''}`,
          ErrorType.unhealthy,
        );
      }
      const health = info.State.Health;
      if (health && health.Status !== 'healthy') {
        const last = (health.Log ?? []).at(-1)?.Output?.trim() || '(none)';
        throw ApplicationFailure.nonRetryable(
          `service ${input.service}: ${input.name} became ${health.Status} during the monitor window; last health output: ${last}`,
          ErrorType.unhealthy,
        );
      }
    },
  };
}
