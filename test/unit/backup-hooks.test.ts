/**
 * runHook's reading of the exec's state (activities/backup/data-containers.ts),
 * on a stand-in for the Docker client that answers as the engine does in a
 * race seen under load: the first inspect of the exec comes before its process
 * started (not running, no exit code yet). The hook's exit code must be the
 * one the process exits with, not "undefined".
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { createBackupActivities } from '../../activities/backup';
import type { BackupHook } from '../../src/backup/settings';

function engine(states: { Running: boolean; ExitCode: number | null }[]) {
  let inspections = 0;
  const stream = new PassThrough();
  const docker = {
    getContainer: () => ({
      inspect: async () => ({ Id: 'c1', State: { Running: true } }),
      exec: async () => ({
        start: async () => {
          setTimeout(() => stream.end(), 50);
          return stream;
        },
        inspect: async () => states[Math.min(inspections++, states.length - 1)],
      }),
    }),
    modem: { demuxStream: (from: PassThrough, out: PassThrough) => from.pipe(out) },
  };
  return { docker: docker as unknown as Docker, inspections: () => inspections };
}

describe('runHook', () => {
  const hook: BackupHook = { service: 'app', phase: 'post', command: ['rm', '/x'], timeoutMs: 10_000, onError: 'abort', origin: 'services.app.x-dockflow.backup.post[0]' };

  it('an exec inspected before its process started is waited for: the exit code is the process\'s', async () => {
    const fake = engine([
      { Running: false, ExitCode: null },
      { Running: true, ExitCode: null },
      { Running: false, ExitCode: 1 },
    ]);
    const activities = createBackupActivities({ docker: fake.docker, stateDir: '/tmp', pollIntervalMs: 10 });
    const result = await activities.runHook({ project: 'shop', container: 'shop-app-1', hook });
    assert.equal(result.exitCode, 1);
    assert.equal(result.timedOut, false);
    assert.equal(fake.inspections(), 3);
  });

  it('an exec that exits at once reports its code on the first inspect', async () => {
    const fake = engine([{ Running: false, ExitCode: 0 }]);
    const activities = createBackupActivities({ docker: fake.docker, stateDir: '/tmp', pollIntervalMs: 10 });
    const result = await activities.runHook({ project: 'shop', container: 'shop-app-1', hook });
    assert.equal(result.exitCode, 0);
  });
});
