/**
 * A Docker daemon that is shutting down closes its listener but still serves
 * requests on connections it had already accepted, for as long as its
 * slowest container takes to stop. A container started through such a
 * connection outlives the daemon; the next daemon kills it while it boots
 * and treats it as stopped by hand, so `restart: unless-stopped` never brings
 * it back. That is how a deploy in CI (chaos, seed 3, run 6) finished on a
 * dying daemon and left app, db and web exited after the restart.
 *
 * On a private daemon (./daemon.ts, needs root like the chaos harness): a
 * client that keeps connections (Node's default) reaches the stopping
 * daemon; the worker's client (workers/docker-client.ts) does not, and fails as
 * "the engine is unreachable", which activities wait out (activities/index.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import Docker from 'dockerode';
import { startChaosDaemon, type ChaosDaemon } from './daemon';
import { ensureBaseImage, BASE_IMAGE } from '../../src/demo/base-image';
import { createDockerClient } from '../../workers/docker-client';
import { isDaemonUnreachable } from '../../activities';

/** How long the daemon's shutdown lasts: the stop timeout of a container that ignores SIGTERM. */
const SLOW_STOP_SECONDS = 4;

describe('a Docker daemon shutting down', () => {
  let daemon: ChaosDaemon;

  before(async () => {
    daemon = await startChaosDaemon('shutdown');
    await ensureBaseImage(daemon.docker);
  });

  after(async () => {
    for (const c of (await daemon?.docker.listContainers({ all: true }).catch(() => [])) ?? []) {
      await daemon.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    await daemon?.stop();
  });

  it("is not reached by the worker's client, while a kept connection starts a container the next daemon kills for good", async () => {
    const { docker } = daemon;
    const slow = await docker.createContainer({
      Image: BASE_IMAGE,
      name: 'shutdown-slow',
      Cmd: ['sh', '-c', "trap '' TERM; while true; do sleep 1; done"],
      StopTimeout: SLOW_STOP_SECONDS,
    } as Docker.ContainerCreateOptions);
    await slow.start();
    const unlessStopped = (name: string) =>
      docker.createContainer({ Image: BASE_IMAGE, name, Cmd: ['sleep', '3600'], HostConfig: { Init: true, RestartPolicy: { Name: 'unless-stopped' } } });
    const viaKept = await unlessStopped('shutdown-kept');
    const viaWorker = await unlessStopped('shutdown-worker');

    const kept = new Docker({ socketPath: daemon.socketPath, agent: new http.Agent({ keepAlive: true }) } as Docker.DockerOptions);
    const worker = createDockerClient({ socketPath: daemon.socketPath });
    await kept.ping();
    await worker.ping();
    let keptStart: unknown = 'not tried';
    let workerStart: unknown = 'not tried';
    await daemon.restart(async () => {
      // The listener is closed at once; the shutdown then waits for shutdown-slow.
      await new Promise((r) => setTimeout(r, 1000));
      workerStart = await worker.getContainer(viaWorker.id).start().then(() => 'started', (err: unknown) => err);
      keptStart = await kept.getContainer(viaKept.id).start().then(() => 'started', (err: unknown) => err);
    });

    assert.ok(isDaemonUnreachable(workerStart), `the worker's client fails as "unreachable": ${String(workerStart)}`);
    assert.equal((await docker.getContainer('shutdown-worker').inspect()).State.Status, 'created', 'nothing reached the stopping daemon');
    // The hazard itself (if Docker ever stops serving old connections, this says so).
    assert.equal(keptStart, 'started', 'a kept connection is served by the stopping daemon');
    const killed = await docker.getContainer('shutdown-kept').inspect();
    assert.equal(killed.State.Status, 'exited', 'killed by the next daemon as it booted');
    assert.equal(killed.RestartCount, 0, 'and never restarted by its unless-stopped policy');
  });
});
