/**
 * Project names that are not names (paths, other projects' names in
 * disguise) are refused everywhere before anything is read, written or
 * locked: by the CLI as a separate process (exit 2, before it connects), and
 * by every workflow started directly through a Temporal client
 * (non-retryable, no activity, no lock). Also the CLI's other usage errors
 * (exit 2), --json naming the workflow, and --env-file /dev/null. Real
 * Docker, real Temporal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError, defaultPayloadConverter } from '@temporalio/client';
import { PROJECT_NAME_RULE } from '../../src/model/names';
import { lockWorkflowId } from '../../workflows/lock';
import { nameOf, projectContainers, projectDir, removeProject, runCli, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-names';
/** The project a disguised name points at: it must come out of every test untouched. */
const VICTIM = 'namesgastown';
const DISGUISED = `namesdemo/../${VICTIM}`;

describe('project names and CLI usage', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let env: Record<string, string>;
  let compose: string;
  let dir: string;

  /** What must not change: the victim's containers (ID, state) and its ledger files. */
  async function victimState(): Promise<{ containers: string[]; ledger: string[] }> {
    const containers = (await projectContainers(bed.docker, VICTIM)).map((c) => `${nameOf(c)} ${c.Id} ${c.State}`);
    const ledgerDir = path.join(bed.stateDir, 'projects', VICTIM, 'revisions');
    const ledger = fs.readdirSync(ledgerDir).map((f) => `${f} ${fs.statSync(path.join(ledgerDir, f)).mtimeMs}`);
    return { containers, ledger };
  }

  async function lockNeverStarted(project: string): Promise<void> {
    await assert.rejects(bed.env.client.workflow.getHandle(lockWorkflowId(project)).describe(), WorkflowNotFoundError, `a lock for ${project} was started`);
  }

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    stopWorker = await startWorker(bed);
    env = { TEMPORAL_ADDRESS: bed.address, DOCKFLOW_TASK_QUEUE: TASK_QUEUE };
    await removeProject(bed.docker, VICTIM);
    dir = projectDir(VICTIM, {
      'docker-compose.yml': `
services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo \${GREETING:-none}; exec sleep 3600"]
    stop_grace_period: 1s
`,
      'second.env': 'GREETING=second\n',
    });
    compose = path.join(dir, 'docker-compose.yml');
    // Two revisions, so that a rollback of the victim would change its containers.
    for (const args of [[], ['--env-file', path.join(dir, 'second.env')]]) {
      const run = await runCli(['deploy', '-f', compose, ...args], env);
      assert.equal(run.code, 0, run.stderr);
    }
  });

  after(async () => {
    await removeProject(bed?.docker, VICTIM);
    // The ledger's tags that protect the victim's revision images (the images themselves stay).
    const tagged = (await bed?.docker.listImages({ filters: { reference: [`dockflow-revision/${VICTIM}-*`] } })) ?? [];
    for (const tag of tagged.flatMap((i) => i.RepoTags ?? [])) await bed.docker.getImage(tag).remove({ noprune: true }).catch(() => undefined);
    await stopWorker?.();
    await bed?.teardown();
  });

  it('deploy --json names its workflow (attached, detached, failed), and --env-file /dev/null is an empty env file', async () => {
    const run = await runCli(['deploy', '-f', compose, '--env-file', '/dev/null', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.project, VICTIM);
    assert.equal(result.revision, 3, 'GREETING unset again: a change from revision 2');
    assert.match(result.workflowId, new RegExp(`^deploy-${VICTIM}-`));
    const description = await bed.env.client.workflow.getHandle(result.workflowId, result.runId).describe();
    assert.equal(description.runId, result.runId, 'runId is the run that deployed');
    assert.equal(description.type, 'deploy');

    const detached = await runCli(['deploy', '-f', compose, '--dry-run', '-d', '--json'], env);
    assert.equal(detached.code, 0, detached.stderr);
    const started = JSON.parse(detached.stdout);
    assert.deepEqual(Object.keys(started).sort(), ['runId', 'workflowId']);
    await bed.env.client.workflow.getHandle(started.workflowId, started.runId).result();

    const failed = await runCli(['rollback', '-p', VICTIM, '--to', '99', '--json'], env);
    // Refused by the worker as bad input (exit 2), and still a JSON document naming the workflow.
    assert.equal(failed.code, 2, failed.stderr);
    const failure = JSON.parse(failed.stdout);
    assert.match(failure.workflowId, new RegExp(`^rollback-${VICTIM}-`));
    assert.equal(typeof failure.runId, 'string');
    assert.equal(failure.status, 'FAILED');
    assert.match(failure.error, /has no revision 99/);

    const history = await runCli(['history', '-p', VICTIM, '--json'], env);
    assert.equal(history.code, 0, history.stderr);
    const listed = JSON.parse(history.stdout);
    assert.match(listed.workflowId, new RegExp(`^history-${VICTIM}-`));
    assert.deepEqual(listed.revisions.map((r: { number: number }) => r.number), [1, 2, 3]);
  });

  it('rollback -p with a disguised name exits 2 naming the rule, and the other project is untouched', async () => {
    const before = await victimState();
    assert.equal(before.containers.length, 1);
    const run = await runCli(['rollback', '-p', DISGUISED], env);
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(`"${DISGUISED}" is not a valid project name: ${PROJECT_NAME_RULE}`), run.stderr);
    assert.deepEqual(await victimState(), before);
    await lockNeverStarted(DISGUISED);
  });

  it('history -p with a path exits 2 before connecting to anything', async () => {
    // Nothing listens on port 1: a CLI that connected first would fail with exit 1 and a connection error.
    const run = await runCli(['history', '-p', '../../../../etc'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /"\.\.\/\.\.\/\.\.\/\.\.\/etc" is not a valid project name/);
    assert.equal(run.stdout, '');
  });

  it('usage errors exit 2: a bad number, an unknown option, a missing argument', async () => {
    const cases: [string[], RegExp][] = [
      [['deploy', '-f', compose, '--health-timeout', 'abc'], /option '--health-timeout <seconds>' argument 'abc' is invalid/],
      [['deploy', '-f', compose, '--no-such-option'], /unknown option '--no-such-option'/],
      [['update', '-p', VICTIM, 'web', '--scale', 'two'], /option '--scale <n>' argument 'two' is invalid/],
      [['update', '-p', VICTIM], /missing required argument 'service'/],
      [['backup', '-p', VICTIM, '--keep', 'x'], /option '--keep <n>' argument 'x' is invalid/],
      [['down'], /required option '-p, --project-name <name>' not specified/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  it('every workflow started directly with a bad project fails non-retryable, with no activity, no lock and nothing touched', async () => {
    const before = await victimState();
    const inputs: [string, Record<string, unknown>][] = [
      ['deploy', { stack: 'x', project: DISGUISED }],
      ['down', { project: DISGUISED }],
      ['update', { project: DISGUISED, service: 'web', scale: 0 }],
      ['rollback', { project: DISGUISED }],
      ['history', { project: '../../../../etc' }],
      ['backup', { project: DISGUISED }],
      ['backups', { project: '../../../../etc' }],
      ['restore', { project: DISGUISED, backupId: '20261122-030000-1a2b3c4d' }],
      ['migrate', { project: DISGUISED, service: 'web', command: ['true'] }],
    ];
    for (const [type, input] of inputs) {
      const handle = await bed.env.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `names-${type}-${Date.now()}`, args: [input] });
      await assert.rejects(handle.result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError, `${type}: ${String(err)}`);
        assert.ok(err.cause instanceof ApplicationFailure, `${type}: ${String(err.cause)}`);
        assert.equal(err.cause.nonRetryable, true, type);
        assert.equal(err.cause.type, 'InvalidSpec', type);
        assert.ok(err.cause.message.includes(`not a valid project name: ${PROJECT_NAME_RULE}`), `${type}: ${err.cause.message}`);
        return true;
      });
      const events = (await handle.fetchHistory()).events ?? [];
      // The one local activity allowed is the outcome's notification lookup (workflows/notify.ts), which reads the worker's settings only.
      const summaryOf = (e: (typeof events)[number]) => (e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : '');
      const acted = events.filter(
        (e) =>
          e.activityTaskScheduledEventAttributes ||
          (e.markerRecordedEventAttributes?.markerName === 'core_local_activity' && summaryOf(e) !== 'notificationTargets') ||
          e.startChildWorkflowExecutionInitiatedEventAttributes,
      );
      assert.deepEqual(acted.map(summaryOf), [], `${type} ran an activity (local or not) or a child (the lock)`);
      await lockNeverStarted(String(input.project));
    }
    assert.deepEqual(await victimState(), before);
  });

  it('update of a service named after an Object member fails naming it, and records nothing', async () => {
    const before = await victimState();
    for (const service of ['constructor', '__proto__']) {
      const handle = await bed.env.client.workflow.start('update', {
        taskQueue: TASK_QUEUE,
        workflowId: `names-update-${Date.now()}`,
        args: [{ project: VICTIM, service, scale: 3 }],
      });
      // Before the fix, the workflow task failed on every attempt (the sandbox's Object is frozen) and the
      // update held the project's lock for ever: bounded here, and ended if it still runs.
      const outcome = Promise.race([handle.result(), new Promise((_, reject) => setTimeout(() => reject(new Error(`update of ${service} did not end within 60 s`)), 60_000).unref())]);
      await outcome.catch(() => handle.terminate('test bound').catch(() => undefined));
      await assert.rejects(outcome, (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
        assert.match(err.cause.message, new RegExp(`project ${VICTIM} has no service ${service} \\(services: web\\)`));
        return true;
      });
    }
    assert.deepEqual(await victimState(), before);
  });
});
