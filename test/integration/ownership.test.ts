/**
 * Ownership on real Docker and a real Temporal server: a deploy whose
 * container_name, network or named volume already exists for another
 * project (or for no project) fails before it changes anything, naming the
 * owner, and leaves the other project's container alone. A volume that
 * docker-compose created for the same project is the project's own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { loadStack } from '../../src/compose';
import { failureMessage } from '../../src/client/operations';
import { Label } from '../../src/model/labels';
import type { DeployResult } from '../../workflows/deploy';
import { projectContainers, projectDir, removeProject, revisionTags, startTestBed, startWorker, TEST_IMAGE, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-volumes-ownership';
const PROJECT = 'volumespixel';
const OTHER = 'volumesshop';
const CLASHING_NAME = 'volumes-pixel-db';
const VOLUME = `${PROJECT}_data`;
const NETWORK = `${PROJECT}_default`;

const COMPOSE = `
name: ${PROJECT}
services:
  db:
    image: ${TEST_IMAGE}
    container_name: ${CLASHING_NAME}
    command: ["sleep", "3600"]
    init: true
    volumes: [data:/data]
volumes:
  data: {}
`;

describe('a project never adopts what it does not own', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let dir: string;
  let counter = 0;

  const cleanup = async () => {
    await bed.docker.getContainer(CLASHING_NAME).remove({ force: true }).catch(() => undefined);
    for (const p of [PROJECT, OTHER]) await removeProject(bed.docker, p);
    await bed.docker.getNetwork(NETWORK).remove().catch(() => undefined);
    await bed.docker.getVolume(VOLUME).remove().catch(() => undefined);
  };

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    await cleanup();
    dir = projectDir(PROJECT, { 'docker-compose.yml': COMPOSE });
  });

  after(async () => {
    await cleanup();
    for (const tag of await revisionTags(bed, PROJECT)) await bed.docker.getImage(tag).remove().catch(() => undefined);
    await stopWorker?.();
    await bed?.teardown();
  });

  const deploy = () =>
    bed.env.client.workflow.execute('deploy', {
      taskQueue: TASK_QUEUE,
      workflowId: `it-volumes-ownership-${++counter}`,
      args: [{ spec: loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec }],
    }) as Promise<DeployResult>;

  /** The deploy fails, non-retryable, with the expected message; nothing of the project exists afterwards. */
  const assertRefused = async (expected: RegExp) => {
    await assert.rejects(deploy(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(failureMessage(err), expected);
      assert.ok(err.cause instanceof ApplicationFailure && err.cause.type === 'ResourceNotOwned', `failure type: ${(err.cause as ApplicationFailure)?.type}`);
      return true;
    });
    assert.deepEqual(await projectContainers(bed.docker, PROJECT), [], 'the refused project has no container');
    const networks = await bed.docker.listNetworks({ filters: { label: [`${Label.project}=${PROJECT}`] } });
    assert.deepEqual(networks.map((n) => n.Name), [], 'the refused project has no network');
  };

  const startSquatter = async (labels: Record<string, string>) => {
    const c = await bed.docker.createContainer({ name: CLASHING_NAME, Image: TEST_IMAGE, Cmd: ['sleep', '3600'], Labels: labels });
    await c.start();
    return c.inspect();
  };

  it("fails naming the project whose container already has the container_name, and leaves that container alone", async () => {
    const before = await startSquatter({ [Label.project]: OTHER, [Label.service]: 'db', [Label.containerNumber]: '1', [Label.oneoff]: 'False' });
    await assertRefused(new RegExp(`container name ${CLASHING_NAME} is used by project ${OTHER} \\(services\\.db\\.container_name\\)`));
    const afterwards = await bed.docker.getContainer(CLASHING_NAME).inspect();
    assert.equal(afterwards.Id, before.Id, 'the other project keeps its container');
    assert.equal(afterwards.State.Running, true);
    assert.equal(afterwards.State.StartedAt, before.State.StartedAt, 'and it was not restarted');
    assert.deepEqual(afterwards.Config.Labels, before.Config.Labels, 'nor relabelled');
    await bed.docker.getContainer(CLASHING_NAME).remove({ force: true });
  });

  it('fails the same way for a container with that name that no compose project owns', async () => {
    const before = await startSquatter({});
    await assertRefused(new RegExp(`container name ${CLASHING_NAME} is used by a container not managed by compose/dockflow`));
    assert.equal((await bed.docker.getContainer(CLASHING_NAME).inspect()).Id, before.Id);
    await bed.docker.getContainer(CLASHING_NAME).remove({ force: true });
  });

  it("refuses a named volume and a network of another project or of none, and names each", async () => {
    await bed.docker.createVolume({ Name: VOLUME });
    await bed.docker.createNetwork({ Name: NETWORK, Labels: { [Label.project]: OTHER, [Label.network]: 'default' } });
    await assertRefused(
      new RegExp(
        `network ${NETWORK} is used by project ${OTHER} \\(networks\\.default\\).*\\n.*volume ${VOLUME} is used by a volume not managed by compose/dockflow \\(volumes\\.data\\); declare it external: true`,
      ),
    );
    await bed.docker.getNetwork(NETWORK).remove();
    await bed.docker.getVolume(VOLUME).remove();
  });

  it('takes a volume docker-compose created for the same project as its own', async () => {
    await bed.docker.createVolume({ Name: VOLUME, Labels: { [Label.project]: PROJECT, [Label.volume]: 'data', [Label.composeVersion]: '1.29.2' } });
    const result = await deploy();
    assert.ok(result.revision);
    const db = await bed.docker.getContainer(CLASHING_NAME).inspect();
    assert.equal(db.Config.Labels?.[Label.project], PROJECT);
    assert.equal(db.Mounts.find((m) => m.Destination === '/data')?.Name, VOLUME);
  });
});
