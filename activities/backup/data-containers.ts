/**
 * The project's containers around a backup or restore: which mount which
 * data sets, stopping them (dependants first, in the order given) and
 * starting them again, and the pre/post hooks exec'd in them.
 */
import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { Label } from '../../src/model/labels';
import type { DataContainer } from '../../src/backup/plan';
import type { BackupHook } from '../../src/backup/settings';
import { isWedged, recreateWedged } from '../wedge';
import { HELPER_LABEL, sleep, throwIfCancelled, type BackupContext } from './context';
import { inspectOrUndefined, messageOf, statusOf } from './docker-common';

/** Hook output kept for messages and the manifest. */
const OUTPUT_LIMIT = 64 * 1024;

export interface HookResult {
  container: string;
  exitCode?: number;
  timedOut: boolean;
  /** Set when the hook could not run at all. */
  error?: string;
  output: string;
}

export function createDataContainerActivities(ctx: BackupContext) {
  const { docker, pollIntervalMs } = ctx;
  return {
    /** The project's containers with their mounts, for choosing what to stop and which image a helper uses. */
    async observeDataContainers(project: string): Promise<DataContainer[]> {
      const list = await docker.listContainers({ all: true, filters: { label: [`${Label.project}=${project}`] } });
      const out: DataContainer[] = [];
      for (const c of list) {
        if (c.Labels?.[HELPER_LABEL]) continue;
        let info: Docker.ContainerInspectInfo;
        try {
          info = await docker.getContainer(c.Id).inspect();
        } catch (err) {
          if (statusOf(err) === 404) continue; // removed meanwhile
          throw err;
        }
        const labels = info.Config.Labels ?? {};
        const test = info.Config.Healthcheck?.Test;
        out.push({
          id: info.Id,
          name: info.Name.replace(/^\//, ''),
          service: labels[Label.service] ?? '',
          number: Number.parseInt(labels[Label.containerNumber] ?? '0', 10) || 0,
          oneoff: (labels[Label.oneoff] ?? 'False').toLowerCase() === 'true',
          running: info.State.Running,
          imageId: info.Image,
          hasHealthcheck: Array.isArray(test) && test.length > 0 && test[0] !== 'NONE',
          dependsOn: (labels[Label.dependsOn] ?? '')
            .split(',')
            .map((d) => d.split(':')[0])
            .filter(Boolean),
          mounts: (info.Mounts ?? []).map((m) => ({
            type: m.Type,
            ...(m.Name ? { name: m.Name } : {}),
            source: m.Source,
            destination: m.Destination,
            rw: m.RW,
          })),
        });
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },

    /** Stop containers in the order given; already stopped or gone is fine. */
    async stopContainers(input: { project: string; containers: { id: string; name: string }[] }): Promise<string[]> {
      const stopped: string[] = [];
      for (const c of input.containers) {
        try {
          await docker.getContainer(c.id).stop();
          stopped.push(c.name);
        } catch (err) {
          if (statusOf(err) === 304 || statusOf(err) === 404) continue;
          throw err;
        }
      }
      return stopped;
    },

    /** Start containers in the order given; already running is fine, one removed meanwhile is reported. */
    async startContainers(input: { project: string; containers: { id: string; name: string }[] }): Promise<{ started: string[]; missing: string[] }> {
      const started: string[] = [];
      const missing: string[] = [];
      for (const c of input.containers) {
        try {
          await docker.getContainer(c.id).start();
          started.push(c.name);
        } catch (err) {
          if (statusOf(err) === 304) started.push(c.name);
          else if (statusOf(err) === 404) missing.push(c.name);
          else if (isWedged(err)) {
            // Wedged by a daemon restart: an identical container under the same name takes its place.
            await recreateWedged(docker, c.id);
            started.push(c.name);
          } else throw err;
        }
      }
      return { started, missing };
    },

    /**
     * Exec a hook in a running container and wait for it, at most its
     * timeout. The result says what happened; the workflow applies on_error.
     * Docker cannot kill an exec, so a timed-out hook may still be running.
     */
    async runHook(input: { project: string; container: string; hook: BackupHook }): Promise<HookResult> {
      const { hook, container } = input;
      const info = await inspectOrUndefined(docker, container);
      if (!info || !info.State.Running) {
        return { container, timedOut: false, output: '', error: `container ${container} of service ${hook.service} is not running` };
      }
      let exec: Docker.Exec;
      try {
        exec = await docker.getContainer(info.Id).exec({
          Cmd: hook.command,
          AttachStdout: true,
          AttachStderr: true,
          ...(hook.user ? { User: hook.user } : {}),
          ...(hook.workingDir ? { WorkingDir: hook.workingDir } : {}),
        });
      } catch (err) {
        return { container, timedOut: false, output: '', error: `cannot exec in ${container}: ${messageOf(err)}` };
      }
      const stream = await exec.start({ hijack: true, stdin: false });
      let output = '';
      const collect = new PassThrough();
      collect.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
      });
      docker.modem.demuxStream(stream, collect, collect);
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      const deadline = Date.now() + hook.timeoutMs;
      for (;;) {
        const state = await exec.inspect();
        // Not running and no exit code yet: the process has not started (an inspect right after the
        // start can come first, and a hook then read as exiting with no code) or its exit is not recorded.
        const exited = !state.Running && state.ExitCode !== null && state.ExitCode !== undefined;
        if (exited) {
          await Promise.race([ended, sleep(1000)]);
          // The hijacked connection can stay half-open after the process ended; it must not outlive the hook.
          stream.destroy();
          return { container, exitCode: state.ExitCode ?? undefined, timedOut: false, output };
        }
        if (Date.now() > deadline) {
          stream.destroy();
          return { container, timedOut: true, output };
        }
        await Promise.race([ended, sleep(pollIntervalMs)]);
        throwIfCancelled();
      }
    },
  };
}
