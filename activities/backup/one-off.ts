/**
 * One-off containers of a service (a migration, its dry run, a deploy
 * hook): created and started exactly once under a deterministic name,
 * waited for with their output in pieces, stopped on timeout or cancel.
 */
import type Docker from 'dockerode';
import { Label } from '../../src/model/labels';
import type { StackSpec } from '../../src/model/spec';
import { ErrorType } from '../../src/errors';
import { containerCreateOptions, endpointConfigFor, extraNetworks } from '../../src/docker/container-config';
import { cursorOf, parseCursor, after, splitTimestamp } from '../../src/backup/output';
import { failure, sleep, throwIfCancelled, type BackupContext } from './context';
import { NOT_STARTED, demuxLogs, inspectOrUndefined, messageOf, statusOf } from './docker-common';

/** Label on one-off containers (value: run | dryrun). */
export const ONE_OFF_LABEL = 'io.dockflow.one-off';
/** Output lines one waitOneOff call returns at most; the rest stays in `docker logs`. */
const LINES_PER_CALL = 200;

export interface OneOffInput {
  spec: StackSpec; // a service slice
  service: string;
  imageId: string;
  name: string;
  command: string[];
  operation: string;
  /** A migration (`run`), its dry run, or a deploy hook: the container's io.dockflow.one-off label. */
  kind: 'run' | 'dryrun' | 'pre_deploy' | 'post_deploy';
  /** Variables set over the service's environment (a deploy hook's DOCKFLOW_*). */
  env?: Record<string, string>;
}

export interface WaitOneOffResult {
  exited: boolean;
  exitCode?: number;
  /** Output lines since the cursor. */
  lines: string[];
  /** Lines left out of `lines` because there were too many. */
  omitted: number;
  cursor?: string;
  /** Last lines of the whole output, once exited. */
  tail?: string;
}

export function createOneOffActivities(ctx: BackupContext) {
  const { docker, pollIntervalMs } = ctx;
  return {
    /**
     * Create (if missing) and start (only if it never started) a one-off
     * container of a service: the service's image, environment, networks and
     * volumes, the given command. Exactly once: a container that already
     * started (running or exited) is never started again.
     */
    async startOneOff(input: OneOffInput): Promise<{ id: string; name: string; startedNow: boolean }> {
      const { spec, name } = input;
      const service = spec.services[input.service];
      let info = await inspectOrUndefined(docker, name);
      if (!info) {
        const body = containerCreateOptions(
          spec,
          service,
          { project: spec.project, service: input.service, number: 0, configHash: '', imageId: input.imageId, operation: input.operation },
          name,
          false, // no service aliases: the one-off must not receive the service's traffic
        );
        const labels: Record<string, string> = { ...body.Labels, [Label.oneoff]: 'True', [ONE_OFF_LABEL]: input.kind };
        for (const k of [Label.containerNumber, Label.composeConfigHash, Label.configHash]) delete labels[k];
        body.Labels = labels;
        body.Cmd = input.command;
        if (input.env) {
          // Replaced, not appended: with a name twice in Env, which one a program reads depends on its libc.
          const extra = input.env;
          body.Env = [...(body.Env ?? []).filter((e) => !Object.hasOwn(extra, e.slice(0, e.indexOf('=')))), ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
        }
        body.Healthcheck = { Test: ['NONE'] };
        body.HostConfig = { ...body.HostConfig, PortBindings: {}, RestartPolicy: { Name: '' } };
        try {
          await docker.createContainer(body);
        } catch (err) {
          if (statusOf(err) !== 409) {
            const type = statusOf(err) === 400 || statusOf(err) === 404 ? ErrorType.dockerRejected : undefined;
            if (type) throw failure(`service ${input.service} of project ${spec.project}: Docker refused to create ${name}: ${messageOf(err)}`, type);
            throw err;
          }
        }
        info = await docker.getContainer(name).inspect();
      }
      const attached = new Set(Object.keys(info.NetworkSettings.Networks ?? {}));
      for (const a of extraNetworks(spec, service, false)) {
        if (attached.has(a.network)) continue;
        await docker
          .getNetwork(a.network)
          .connect({ Container: info.Id, EndpointConfig: endpointConfigFor(a) })
          .catch((err: unknown) => {
            if (!/already exists|already attached/i.test(messageOf(err))) throw err;
          });
      }
      const neverStarted = !info.State.Running && (info.State.StartedAt === NOT_STARTED || info.State.StartedAt === '');
      if (neverStarted) {
        try {
          await docker.getContainer(info.Id).start();
        } catch (err) {
          if (statusOf(err) !== 304) {
            throw failure(`service ${input.service} of project ${spec.project}: cannot start ${name}: ${messageOf(err)}`, ErrorType.dockerRejected);
          }
        }
      }
      return { id: info.Id, name, startedNow: neverStarted };
    },

    /**
     * Wait up to maxWaitMs for a one-off container to exit, returning the
     * output lines since `cursor`, so the workflow can show them as they come.
     */
    async waitOneOff(input: { service: string; name: string; cursor?: string; maxWaitMs: number }): Promise<WaitOneOffResult> {
      const deadline = Date.now() + input.maxWaitMs;
      let info: Docker.ContainerInspectInfo | undefined;
      for (;;) {
        info = await inspectOrUndefined(docker, input.name);
        if (!info) throw failure(`service ${input.service}: one-off container ${input.name} is gone`, ErrorType.jobFailed);
        const exited = !info.State.Running && !info.State.Restarting && info.State.StartedAt !== NOT_STARTED;
        if (exited || Date.now() >= deadline) break;
        await sleep(pollIntervalMs);
        throwIfCancelled();
      }
      const exited = !info.State.Running && !info.State.Restarting;
      const since = input.cursor ? parseCursor(input.cursor) : undefined;
      const raw = (await docker.getContainer(info.Id).logs({
        stdout: true,
        stderr: true,
        timestamps: true,
        follow: false,
        ...(input.cursor ? { since: input.cursor as unknown as number } : {}),
      })) as unknown as Buffer;
      const lines: string[] = [];
      let cursor = input.cursor;
      let omitted = 0;
      for (const line of demuxLogs(raw).split('\n')) {
        const parsed = splitTimestamp(line);
        if (!parsed) continue;
        if (since && !after(parsed.at, since)) continue; // Docker's `since` includes the line at the cursor
        cursor = cursorOf(parsed.at);
        if (lines.length < LINES_PER_CALL) lines.push(parsed.text);
        else omitted += 1;
      }
      let tail: string | undefined;
      if (exited) {
        tail = demuxLogs((await docker.getContainer(info.Id).logs({ stdout: true, stderr: true, tail: 30, follow: false })) as unknown as Buffer).trimEnd();
      }
      return { exited, ...(exited ? { exitCode: info.State.ExitCode } : {}), lines, omitted, ...(cursor ? { cursor } : {}), ...(tail !== undefined ? { tail } : {}) };
    },

    /** Stop a one-off container (timeout or cancellation); it is kept for `docker logs`. */
    async stopOneOff(input: { name: string }): Promise<void> {
      try {
        await docker.getContainer(input.name).stop({ t: 10 });
      } catch (err) {
        if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
      }
    },
  };
}
