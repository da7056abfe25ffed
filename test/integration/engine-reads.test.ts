/**
 * `dockflow ps` reads the local engine over its socket without dockerode
 * (src/engine/socket-reads.ts). Against the real engine: the observation it
 * builds is the one the observe activity builds through dockerode, and the
 * engine's failures read the same (404 is "not there"). No Temporal; a few
 * seconds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { dockerOrFail, removeProject, TEST_IMAGE } from '../support/harness';
import { ensureBaseImage } from '../../src/demo/base-image';
import { Label } from '../../src/model/labels';
import { observeProject } from '../../src/engine/observe';
import { inspectOrUndefined, messageOf, statusOf } from '../../src/engine/reads';
import { localSocketPath, socketReads } from '../../src/engine/socket-reads';

const PROJECT = `arch-layers-reads-${process.pid}`;

describe('engine reads over the local socket', () => {
  let docker: Docker;

  before(async () => {
    docker = await dockerOrFail();
    await ensureBaseImage(docker);
    await removeProject(docker, PROJECT);
    await docker.createNetwork({ Name: `${PROJECT}_default`, Labels: { [Label.project]: PROJECT, [Label.network]: 'default' } });
    await docker.createVolume({ Name: `${PROJECT}_data`, Labels: { [Label.project]: PROJECT, [Label.volume]: 'data' } });
    const labels = (service: string, extra: Record<string, string> = {}) => ({ [Label.project]: PROJECT, [Label.service]: service, [Label.containerNumber]: '1', [Label.oneoff]: 'False', ...extra });
    const running = await docker.createContainer({ name: `${PROJECT}-web-1`, Image: TEST_IMAGE, Cmd: ['sleep', '300'], Labels: labels('web'), HostConfig: { Init: true } });
    await running.start();
    // Exited with a code: only inspect tells the exit code, so the reads must inspect it alike.
    const exited = await docker.createContainer({ name: `${PROJECT}-job-1`, Image: TEST_IMAGE, Cmd: ['sh', '-c', 'exit 3'], Labels: labels('job') });
    await exited.start();
    await exited.wait();
  });

  after(async () => {
    await removeProject(docker, PROJECT);
    await docker.getVolume(`${PROJECT}_data`).remove().catch(() => undefined);
  });

  it('observes a project exactly as the observe activity does through dockerode', async () => {
    const socketPath = localSocketPath(process.env);
    assert.ok(socketPath, 'this test bed talks to a local socket');
    const light = await observeProject(socketReads(socketPath), PROJECT);
    const viaDockerode = await observeProject(docker, PROJECT);
    assert.deepEqual(light, viaDockerode);
    assert.deepEqual(light.containers.map((c) => [c.name, c.state, c.exitCode]), [
      [`${PROJECT}-job-1`, 'exited', 3],
      [`${PROJECT}-web-1`, 'running', undefined],
    ]);
    assert.deepEqual(light.networks.map((n) => n.name), [`${PROJECT}_default`]);
    assert.deepEqual(light.volumes.map((v) => v.name), [`${PROJECT}_data`]);
  });

  it('fails as dockerode does: the status in statusCode, the engine message in the body', async () => {
    const reads = socketReads(localSocketPath(process.env)!);
    assert.equal(await inspectOrUndefined(reads, `${PROJECT}-absent`), undefined);
    const err = await reads.getContainer(`${PROJECT}-absent`).inspect().then(() => undefined, (e: unknown) => e);
    assert.equal(statusOf(err), 404);
    assert.match(messageOf(err), /no such container/i);
  });
});
