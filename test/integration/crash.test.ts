/**
 * Durability: SIGKILL the worker process in the middle of a deploy (during a
 * health wait), start a fresh worker, and the same workflow finishes with
 * exactly the expected containers: none missing, none duplicated, none left
 * under a temporary name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { loadStack } from '../../src/compose';
import { progressQuery } from '../../src/messages';
import type { DeployResult } from '../../workflows/deploy';
import { killHard, nameOf, projectContainers, projectDir, removeProject, spawnWorker, startTestBed, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-crash';
const PROJECT = 'itcrash';
const ROLL = 'itcrashroll';

describe('worker crash mid-deploy', () => {
  let bed: TestBed;
  const workers: ChildProcess[] = [];

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
  });

  after(async () => {
    for (const w of workers) await killHard(w);
    await removeProject(bed.docker, PROJECT);
    await removeProject(bed.docker, ROLL);
    await bed?.teardown();
  });

  it('finishes the deploy on a new worker with exactly the expected containers', async () => {
    const dir = projectDir('crash', {
      'docker-compose.yml': `
name: ${PROJECT}
services:
  slow:
    image: dockflow/busybox:1
    # Healthy only after 8 s, so the deploy is sure to be inside the health wait when the worker dies.
    command: ["sh", "-c", "sleep 8; touch /tmp/ready; exec sleep 3600"]
    deploy:
      replicas: 2
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 30
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    depends_on:
      slow: {condition: service_healthy}
`,
    });
    const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} });
    workers.push(await spawnWorker(bed));
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-crash-1', args: [{ spec }] });

    // Wait until the deploy is inside the health wait, then kill the worker like a power cut.
    const deadline = Date.now() + 60_000;
    let waiting = false;
    while (!waiting && Date.now() < deadline) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      waiting = progress?.steps.some((s) => s.title.startsWith('wait healthy') && s.state === 'running') ?? false;
      if (!waiting) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(waiting, 'the deploy reached the health wait');
    const beforeKill = await projectContainers(bed.docker, PROJECT);
    await killHard(workers[0]);

    workers.push(await spawnWorker(bed));
    const result = (await handle.result()) as DeployResult;
    assert.deepEqual(result.services, { app: ['itcrash-app-1'], slow: ['itcrash-slow-1', 'itcrash-slow-2'] });

    const containers = await projectContainers(bed.docker, PROJECT);
    assert.deepEqual(containers.map(nameOf), ['itcrash-app-1', 'itcrash-slow-1', 'itcrash-slow-2']);
    for (const c of containers) assert.equal(c.State, 'running', `${nameOf(c)} runs`);
    // The containers created before the crash were reused, not created again.
    for (const c of beforeKill) {
      assert.ok(containers.some((after) => after.Id === c.Id), `${nameOf(c)} survived the crash unchanged`);
    }
    const history = await handle.fetchHistory();
    // Temporal records retries as the attempt number of the final start event.
    const retried = history.events?.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ?? [];
    assert.ok(retried.length >= 1, 'the killed worker\'s activity was retried on the new worker');
  });

  it('finishes a start-first rolling update killed at three points: replacement started, monitor window, old one draining', async () => {
    const compose = (release: string) => `
name: ${ROLL}
services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ${release} > /www/index.html; sleep 1; exec httpd -f -p 80 -h /www"]
    environment: {RELEASE: "${release}"}
    deploy:
      replicas: 3
      update_config: {order: start-first, parallelism: 1, monitor: 4s}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      timeout: 1s
      retries: 5
`;
    await removeProject(bed.docker, ROLL);
    const dir = projectDir('roll', { 'docker-compose.yml': compose('1') });
    const load = () => loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} }).spec;
    workers.push(await spawnWorker(bed));
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-crash-roll-1', args: [{ spec: load() }] });
    fs.writeFileSync(`${dir}/docker-compose.yml`, compose('2'));
    const handle = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'it-crash-roll-2', args: [{ spec: load() }] });

    // Each point is a state of the host, observed through Docker, not through logs.
    const points: { name: string; reached: () => Promise<boolean> }[] = [
      {
        name: 'replacement started, not yet healthy',
        reached: async () => (await replacements()).some((c) => c.State.Running && c.State.Health?.Status !== 'healthy'),
      },
      {
        name: 'replacement healthy, inside the monitor window',
        reached: async () => (await replacements()).some((c) => c.State.Health?.Status === 'healthy'),
      },
      {
        name: 'old container out of service discovery, draining, not yet removed',
        reached: async () => (await projectContainers(bed.docker, ROLL)).some((c) => nameOf(c).includes('_dockflow-old-')),
      },
    ];
    // Listed, then inspected while the workflow goes on: a container gone in between is not at any point.
    const replacements = async () =>
      (
        await Promise.all(
          (await projectContainers(bed.docker, ROLL))
            .filter((c) => nameOf(c).includes('_dockflow-next-'))
            .map((c) => bed.docker.getContainer(c.Id).inspect().catch(() => undefined)),
        )
      ).filter((c): c is NonNullable<typeof c> => c !== undefined);
    for (const point of points) {
      const deadline = Date.now() + 90_000;
      let hit = false;
      while (!hit && Date.now() < deadline) {
        hit = await point.reached();
        if (!hit) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(hit, `reached: ${point.name}`);
      await killHard(workers.at(-1)!);
      workers.push(await spawnWorker(bed));
    }
    await handle.result();
    const containers = await projectContainers(bed.docker, ROLL);
    assert.deepEqual(containers.map(nameOf), [`${ROLL}-web-1`, `${ROLL}-web-2`, `${ROLL}-web-3`], 'exactly the desired replicas, no leftovers');
    for (const c of containers) {
      const info = await bed.docker.getContainer(c.Id).inspect();
      assert.ok(info.Config.Env.includes('RELEASE=2'), `${nameOf(c)} runs the new release`);
      assert.equal(info.State.Running, true);
      assert.ok(info.NetworkSettings.Networks?.[`${ROLL}_default`]?.Aliases?.includes('web'), `${nameOf(c)} answers for the alias`);
    }
  });
});
