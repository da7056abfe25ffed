/**
 * Deploy hooks end to end (real Temporal, real Docker):
 * - an inline spec with a bad hook key fails before anything is touched;
 * - pre_deploy runs in a one-off container of the NEW image while the old
 *   container still runs, post_deploy once the new one runs, both with the
 *   DOCKFLOW_* variables and the service's environment and volume; the UI's
 *   timeline names them; a dry run lists them and runs none;
 * - a failing pre_deploy leaves the running stack untouched (same container
 *   IDs, same revision);
 * - a failing post_deploy with failure_action rollback puts the previous
 *   revision back;
 * - update runs the revision's hooks (DOCKFLOW_OPERATION=update);
 * - the worker SIGKILLed while a hook runs: the hook ran exactly once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadStack } from '../../src/compose';
import { failureMessage, failureTypeOf } from '../../src/client/operations';
import { progressQuery } from '../../src/messages';
import { hookContainerName } from '../../src/backup/ids';
import { Label } from '../../src/model/labels';
import type { DeployResult } from '../../workflows/deploy';
import { buildImage, execIn, killHard, projectDir, removeProject, spawnWorker, startTestBed, startWorker, TEST_IMAGE, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-hooks-deploy';
const PROJECT = 'hooksit';
const APP = `${PROJECT}-app-1`;
const IMAGE = (v: number) => `dockflow-hooks-it:${v}`;

interface StackOptions {
  version: number;
  pre?: string;
  post?: string;
  failureAction?: 'rollback' | 'pause';
}

/** The app records which image version it runs in the volume; hooks append to /data/hooks.log. */
function compose(o: StackOptions): string {
  const hooks = [o.pre !== undefined ? `        pre_deploy: {command: ${JSON.stringify(o.pre)}, timeout: 1m}` : '', o.post !== undefined ? `        post_deploy: ${JSON.stringify(o.post)}` : '']
    .filter(Boolean)
    .join('\n');
  return `
name: ${PROJECT}
services:
  app:
    image: ${IMAGE(o.version)}
    command: ["sh", "-c", "cat /version > /data/running; trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [hookdata:/data]
    environment: {MARK: from-service}
    healthcheck: {test: ["CMD", "test", "-f", "/data/running"], interval: 1s, timeout: 1s, retries: 10}
    deploy: {update_config: {failure_action: ${o.failureAction ?? 'pause'}}}
    x-dockflow:
      hooks:
${hooks}
volumes:
  hookdata:
`;
}

/** `$$` is compose's escape for a literal `$`: the hook's shell expands these, not the loader. */
const LOG = (tag: string) =>
  `echo "${tag} image=$$(cat /version) running=$$(cat /data/running 2>/dev/null) op=$$DOCKFLOW_OPERATION rev=$$DOCKFLOW_REVISION prev=$$DOCKFLOW_PREVIOUS_REVISION project=$$DOCKFLOW_PROJECT wf=$$DOCKFLOW_WORKFLOW_ID hook=$$DOCKFLOW_HOOK mark=$$MARK" >> /data/hooks.log`;

let seq = 0;
const wfId = (name: string) => `it-hooks-${name}-${Date.now()}-${++seq}`;

describe('deploy hooks against real Docker and Temporal', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;
  const children: ChildProcess[] = [];

  const specOf = (o: StackOptions) => {
    const dir = projectDir(PROJECT, { 'docker-compose.yml': compose(o) });
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };
  const deploy = (o: StackOptions, workflowId = wfId('deploy'), extra: Record<string, unknown> = {}) =>
    bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec: specOf(o), ...extra }] }) as Promise<DeployResult>;
  const hookLog = async () => (await execIn(bed.docker, APP, ['sh', '-c', 'cat /data/hooks.log 2>/dev/null || true'])).trim().split('\n').filter(Boolean);
  const serviceContainers = async () =>
    (await bed.docker.listContainers({ all: true, filters: { label: [`${Label.project}=${PROJECT}`, `${Label.oneoff}=False`] } })).map((c) => `${c.Names[0]} ${c.Id} ${c.ImageID}`).sort();
  const revisions = () => fs.readdirSync(path.join(bed.stateDir, 'projects', PROJECT, 'revisions')).sort();

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    for (const v of [1, 2]) await buildImage(bed.docker, IMAGE(v), `FROM ${TEST_IMAGE}\nRUN echo ${v} > /version\n`);
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    for (const c of children) await killHard(c);
    await stopWorker?.();
    await removeProject(bed.docker, PROJECT);
    for (const v of [1, 2]) await bed.docker.getImage(IMAGE(v)).remove({ force: true }).catch(() => undefined);
    await bed?.teardown();
  });

  it('refuses an inline spec (the UI\'s or a script\'s) with a bad hook, non-retryable, before anything is touched', async () => {
    const spec = specOf({ version: 1, pre: 'true' });
    (spec.services.app.extensions['x-dockflow'] as { hooks: { pre_deploy: Record<string, unknown> } }).hooks.pre_deploy.tmeout = '5m';
    const run = bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId('bad'), args: [{ spec }] });
    await assert.rejects(run, (err: unknown) => {
      assert.equal(failureTypeOf(err), 'InvalidSpec');
      assert.equal(failureMessage(err), 'invalid hooks in project hooksit:\nservices.app.x-dockflow.hooks.pre_deploy.tmeout: unknown key (a hook takes: command, timeout)');
      return true;
    });
    const touched = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.project}=${PROJECT}`] } });
    const volumes = (await bed.docker.listVolumes({ filters: { label: [`${Label.project}=${PROJECT}`] } })).Volumes ?? [];
    assert.deepEqual([touched.length, volumes.length], [0, 0], 'no container, no volume');
  });

  it('runs pre_deploy in the new image before the old container changes, post_deploy after, with the DOCKFLOW_* variables', async () => {
    const first = wfId('first');
    const r1 = await deploy({ version: 1, pre: LOG('pre'), post: LOG('post') }, first);
    assert.equal(r1.revision, 1);
    const second = wfId('second');
    const planned = await deploy({ version: 2, pre: LOG('pre'), post: LOG('post') }, wfId('plan'), { dryRun: true });
    assert.deepEqual(
      planned.plan.split('\n').map((l) => l.replace(/ \(.*$/, '')),
      ['pre_deploy hook in a one-off container of app: /bin/sh -c \'echo "pre image=$(cat /version) running=$(cat /data/running 2>/dev/null) op=$DOCKFLOW_OPERATION rev=$DOCKFLOW_REVISION prev=$DOCKFLOW_PREVIOUS_REVISION project=$DOCKFLOW_PROJECT wf=$DOCKFLOW_WORKFLOW_ID hook=$DOCKFLOW_HOOK mark=$MARK" >> /data/hooks.log\'', 'recreate container:hooksit-app-1', 'post_deploy hook in a one-off container of app: /bin/sh -c \'echo "post image=$(cat /version) running=$(cat /data/running 2>/dev/null) op=$DOCKFLOW_OPERATION rev=$DOCKFLOW_REVISION prev=$DOCKFLOW_PREVIOUS_REVISION project=$DOCKFLOW_PROJECT wf=$DOCKFLOW_WORKFLOW_ID hook=$DOCKFLOW_HOOK mark=$MARK" >> /data/hooks.log\''],
      'the dry run lists the hooks around the plan',
    );
    assert.equal(planned.hooks?.length, 2);
    assert.equal((await hookLog()).length, 2, 'the dry run ran no hook');

    const r2 = await deploy({ version: 2, pre: LOG('pre'), post: LOG('post') }, second);
    assert.equal(r2.revision, 2);
    assert.deepEqual(await hookLog(), [
      // First deploy: nothing ran yet, no previous revision; the volume existed for the hook already.
      `pre image=1 running= op=deploy rev=1 prev= project=${PROJECT} wf=${first} hook=pre_deploy mark=from-service`,
      `post image=1 running=1 op=deploy rev=1 prev= project=${PROJECT} wf=${first} hook=post_deploy mark=from-service`,
      // The new image, while the old container still ran; then the new container runs.
      `pre image=2 running=1 op=deploy rev=2 prev=1 project=${PROJECT} wf=${second} hook=pre_deploy mark=from-service`,
      `post image=2 running=2 op=deploy rev=2 prev=1 project=${PROJECT} wf=${second} hook=post_deploy mark=from-service`,
    ]);
    const leftovers = await bed.docker.listContainers({ all: true, filters: { label: [`${Label.operation}=${second}`, `${Label.oneoff}=True`] } });
    assert.deepEqual(leftovers.map((c) => c.Names[0]), [], 'successful hooks leave no container');

    // The UI's timeline and the progress query name the hooks.
    const handle = bed.env.client.workflow.getHandle(second);
    const summaries = (await handle.fetchHistory()).events!.filter((e) => e.userMetadata?.summary).map((e) => defaultPayloadConverter.fromPayload<string>(e.userMetadata!.summary!));
    const preName = hookContainerName(PROJECT, 'app', 'pre_deploy', second, 'services.app.x-dockflow.hooks.pre_deploy');
    assert.ok(summaries.some((s) => s.startsWith(`pre_deploy hook of app in ${preName}: /bin/sh -c echo "pre`)), summaries.join(' | '));
    assert.ok(summaries.some((s) => s.startsWith('post_deploy hook of app in hooksit-app-postdeploy-')), summaries.join(' | '));
    const titles = (await handle.query(progressQuery)).steps.map((s) => s.title);
    const preAt = titles.findIndex((t) => t.startsWith(`start pre_deploy hook in one-off container ${preName}`));
    const replaceAt = titles.findIndex((t) => t.includes(`replace ${APP}`));
    const postAt = titles.findIndex((t) => t.startsWith('start post_deploy hook'));
    assert.ok(preAt >= 0 && replaceAt > preAt && postAt > replaceAt, titles.join(' | '));
  });

  it('a failing pre_deploy changes no container and records no revision', async () => {
    const before = await serviceContainers();
    const revisionsBefore = revisions();
    const workflowId = wfId('pre-fails');
    await assert.rejects(deploy({ version: 1, pre: 'echo "schema check failed" >&2; exit 3', post: LOG('post') }, workflowId), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.equal(failureTypeOf(err), 'DeployHookFailed');
      assert.match(
        failureMessage(err),
        /^deploy of hooksit stopped before changing any container: pre_deploy hook of service app \(services\.app\.x-dockflow\.hooks\.pre_deploy\) exited with code 3\. Last lines of (hooksit-app-predeploy-[0-9a-f]{8}) \(kept for docker logs; remove it with docker rm -f \1 or dockflow down -p hooksit\):\nschema check failed$/,
      );
      return true;
    });
    assert.deepEqual(await serviceContainers(), before, 'same containers, same IDs, same images');
    assert.deepEqual(revisions(), revisionsBefore);
    assert.equal((await hookLog()).filter((l) => l.startsWith('post')).length, 2, 'no post_deploy ran');
    await bed.docker.getContainer(hookContainerName(PROJECT, 'app', 'pre_deploy', workflowId, 'services.app.x-dockflow.hooks.pre_deploy')).remove({ force: true });
  });

  it('a failing post_deploy with failure_action rollback puts the previous revision back', async () => {
    const image2 = (await bed.docker.getImage(IMAGE(2)).inspect()).Id;
    const revisionsBefore = revisions();
    const workflowId = wfId('post-fails');
    await assert.rejects(deploy({ version: 1, post: 'echo "smoke test failed"; exit 4', failureAction: 'rollback' }, workflowId), (err: unknown) => {
      assert.equal(failureTypeOf(err), 'RolledBack');
      assert.match(failureMessage(err), /^deploy of hooksit failed and was rolled back to revision 2: post_deploy hook of service app \(services\.app\.x-dockflow\.hooks\.post_deploy\) exited with code 4\./);
      return true;
    });
    const app = await bed.docker.getContainer(APP).inspect();
    assert.equal(app.Image, image2, 'the app runs revision 2\'s image again');
    assert.equal(app.State.Running, true);
    assert.equal((await execIn(bed.docker, APP, ['cat', '/data/running'])).trim(), '2');
    assert.deepEqual(revisions(), revisionsBefore, 'the failed deploy is not a revision');
    await bed.docker.getContainer(hookContainerName(PROJECT, 'app', 'post_deploy', workflowId, 'services.app.x-dockflow.hooks.post_deploy')).remove({ force: true });
  });

  it('update runs the revision\'s hooks too, with DOCKFLOW_OPERATION=update', async () => {
    const linesBefore = (await hookLog()).length;
    const workflowId = wfId('update');
    const result = (await bed.env.client.workflow.execute('update', { taskQueue: TASK_QUEUE, workflowId, args: [{ project: PROJECT, service: 'app', image: IMAGE(1) }] })) as { revision: number };
    assert.equal(result.revision, 3);
    assert.deepEqual((await hookLog()).slice(linesBefore), [
      `pre image=1 running=2 op=update rev=3 prev=2 project=${PROJECT} wf=${workflowId} hook=pre_deploy mark=from-service`,
      `post image=1 running=1 op=update rev=3 prev=2 project=${PROJECT} wf=${workflowId} hook=post_deploy mark=from-service`,
    ]);
  });

  it('runs a hook exactly once when the worker is SIGKILLed while it runs', async () => {
    await stopWorker?.();
    stopWorker = undefined;
    children.push(await spawnWorker(bed));
    const workflowId = wfId('crash');
    const name = hookContainerName(PROJECT, 'app', 'pre_deploy', workflowId, 'services.app.x-dockflow.hooks.pre_deploy');
    // Followed live from before the deploy: the engine keeps only its last 256 events, which other tests on a shared engine overrun.
    const engineEvents = (await bed.docker.getEvents({ filters: { type: ['container'], event: ['start'], container: [name] } })) as NodeJS.ReadableStream & { destroy(): void };
    let text = '';
    engineEvents.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const count = 'n=$$(cat /data/count 2>/dev/null || echo 0); echo $$((n+1)) > /data/count; echo started; sleep 6; echo finished';
    const run = deploy({ version: 2, pre: count }, workflowId);
    run.catch(() => undefined);
    const deadline = Date.now() + 90_000;
    let runningNow = false;
    while (!runningNow && Date.now() < deadline) {
      runningNow = (await bed.docker.getContainer(name).inspect().catch(() => undefined))?.State.Running ?? false;
      if (!runningNow) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(runningNow, 'the hook container is running');
    await new Promise((r) => setTimeout(r, 1000));
    await killHard(children.at(-1)!);
    children.push(await spawnWorker(bed));

    const result = await run;
    assert.equal(result.revision, 4);
    assert.equal((await execIn(bed.docker, APP, ['cat', '/data/count'])).trim(), '1', 'the hook ran exactly once');
    assert.equal((await execIn(bed.docker, APP, ['cat', '/data/running'])).trim(), '2', 'and the deploy went on');
    await new Promise((r) => setTimeout(r, 500));
    engineEvents.destroy();
    const starts = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Action?: string; status?: string })
      .filter((e) => (e.Action ?? e.status) === 'start');
    assert.equal(starts.length, 1, 'Docker started the hook container once');
    const history = (await bed.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = history.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startOneOff');
    assert.equal(scheduled.length, 1, 'startOneOff was scheduled once');
  });
});
