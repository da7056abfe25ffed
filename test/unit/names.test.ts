/**
 * One project-name rule (compose's) everywhere a name arrives or becomes a
 * path: every workflow input schema, the stack spec, the ledger, backup keys
 * and destinations, backup schedules, and the CLI's option parsers. A name
 * that fails is refused before anything is read, written or locked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import { InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import { DeployInput, DownInput, HistoryInput, RollbackInput, UpdateInput, formatZodError } from '../../src/model/input';
import { BackupInput, ListBackupsInput, MigrateInput, RestoreInput } from '../../src/model/backup-input';
import { StackSpec } from '../../src/model/spec';
import { Revision } from '../../src/model/revision';
import { PROJECT_NAME_RULE, assertProjectName, isProjectName } from '../../src/model/names';
import { createLedgerActivities } from '../../activities/ledger';
import { createBackupActivities } from '../../activities/backup';
import { DestinationError, LocalDirectoryDestination, backupKeyParts } from '../../src/backup/destination';
import { putBackupSchedule } from '../../src/backup/client';
import type { Client } from '@temporalio/client';
import { durationArg, portArg, positiveNumberArg, positiveWholeNumberArg, projectNameArg, ratioArg, wholeNumberArg } from '../../src/cli/options';
import { load, projectDir, throwsCompose } from '../fixtures/compose/support';

const REJECTED = ['../x', 'demo/../gastown', '../../../../etc', 'Upper', '-x', '_x', '', 'café', 'ｓｈｏｐ', 'a b', 'a.b', 'a/b', '.', '..', 'x'.repeat(201)];
const ACCEPTED = ['shop', 'a_b-1', '1shop', 'x'.repeat(200)];

function spec(project: string): StackSpec {
  return { project, workingDir: '/srv/shop', composeFiles: ['/srv/shop/compose.yaml'], services: {}, networks: {}, volumes: {}, extensions: {} };
}

/** Every workflow input, each with its project at `project` (and where the schema needs more, valid values). */
const INPUTS: { name: string; schema: z.ZodType; input: (project: string) => unknown; path: string }[] = [
  { name: 'deploy (project)', schema: DeployInput, input: (project) => ({ stack: 'shop', project }), path: 'input.project' },
  { name: 'deploy (spec)', schema: DeployInput, input: (project) => ({ spec: spec(project) }), path: 'input.spec.project' },
  { name: 'down', schema: DownInput, input: (project) => ({ project }), path: 'input.project' },
  { name: 'update', schema: UpdateInput, input: (project) => ({ project, service: 'web', scale: 2 }), path: 'input.project' },
  { name: 'rollback', schema: RollbackInput, input: (project) => ({ project }), path: 'input.project' },
  { name: 'history', schema: HistoryInput, input: (project) => ({ project }), path: 'input.project' },
  { name: 'backup', schema: BackupInput, input: (project) => ({ project }), path: 'input.project' },
  { name: 'backups', schema: ListBackupsInput, input: (project) => ({ project }), path: 'input.project' },
  { name: 'restore', schema: RestoreInput, input: (project) => ({ project, backupId: '20261122-030000-1a2b3c4d' }), path: 'input.project' },
  { name: 'migrate', schema: MigrateInput, input: (project) => ({ project, service: 'web', command: ['true'] }), path: 'input.project' },
];

describe('the project name rule', () => {
  it('accepts compose project names and nothing else', () => {
    for (const name of ACCEPTED) assert.equal(isProjectName(name), true, name);
    for (const name of REJECTED) assert.equal(isProjectName(name), false, name);
    for (const value of [undefined, null, 3, ['shop'], { project: 'shop' }]) assert.equal(isProjectName(value), false, String(value));
    assert.throws(() => assertProjectName('demo/../gastown', 'rollback'), { message: `rollback: "demo/../gastown" is not a valid project name: ${PROJECT_NAME_RULE}` });
  });

  for (const { name, schema, input, path: where } of INPUTS) {
    it(`${name} input: refuses every bad name, naming the path and the rule`, () => {
      for (const project of ACCEPTED) {
        const parsed = schema.safeParse(input(project));
        assert.ok(parsed.success, `${project}: ${parsed.success ? '' : formatZodError(parsed.error)}`);
      }
      for (const project of REJECTED) {
        const parsed = schema.safeParse(input(project));
        assert.equal(parsed.success, false, `${JSON.stringify(project)} was accepted`);
        assert.match(formatZodError(parsed.error!), new RegExp(`^${where.replace(/\./g, '\\.')}: not a valid project name: ${PROJECT_NAME_RULE.replace(/[-"]/g, '.')}`, 'm'), project);
      }
    });
  }

  it('is the stack spec\'s and the revision\'s rule too', () => {
    assert.equal(StackSpec.safeParse(spec('demo/../gastown')).success, false);
    assert.equal(StackSpec.safeParse(spec('a_b-1')).success, true);
    const revision = { project: '../x', number: 1, createdAt: 'now', operation: 'deploy', workflowId: 'w', spec: spec('shop'), images: {}, changed: [], links: { backups: [], migrations: [] } };
    assert.equal(Revision.safeParse(revision).success, false);
    assert.equal(Revision.safeParse({ ...revision, project: 'shop' }).success, true);
  });
});

/** Failure type and retryability of what an activity threw. */
async function nonRetryable(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'InvalidSpec');
    assert.match(err.message, message);
    return true;
  });
}

/** Docker is never reached by these calls: any use of it fails the test. */
const noDocker = new Proxy({}, { get: (_t, key) => assert.fail(`Docker was used (${String(key)})`) }) as unknown as Docker;

function revisionFile(project: string, number = 1): string {
  return `${JSON.stringify({ project, number, createdAt: '2026-11-30T00:00:00.000Z', operation: 'deploy', workflowId: `deploy-${project}`, spec: spec(project), images: {}, changed: [], links: { backups: [], migrations: [] } })}\n`;
}

describe('the ledger builds paths from valid names only', () => {
  function stateDirWith(projects: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'names-ledger-'));
    for (const [folder, content] of Object.entries(projects)) {
      fs.mkdirSync(path.join(dir, 'projects', folder, 'revisions'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'projects', folder, 'revisions', '000001.json'), content);
    }
    return dir;
  }

  it('refuses a name that would reach another project\'s folder or outside the ledger, non-retryable', async () => {
    const stateDir = stateDirWith({ gastown: revisionFile('gastown') });
    const ledger = createLedgerActivities({ docker: noDocker, stateDir });
    assert.equal((await ledger.listRevisions('gastown')).length, 1, 'the valid name reads its own ledger');
    await nonRetryable(ledger.listRevisions('demo/../gastown'), /"demo\/\.\.\/gastown" is not a valid project name/);
    await nonRetryable(ledger.getRevision({ project: '../../../../etc' }), /is not a valid project name/);
    await nonRetryable(ledger.linkToRevision({ project: 'demo/../gastown', number: 1, kind: 'backups', id: 'x' }), /is not a valid project name/);
    await nonRetryable(
      ledger.recordRevision({ project: '../evil', operation: 'deploy', workflowId: 'w', spec: spec('shop'), imageIds: {}, changed: [] }),
      /"\.\.\/evil" is not a valid project name/,
    );
    assert.deepEqual(fs.readdirSync(path.join(stateDir, 'projects')), ['gastown'], 'nothing written');
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses a revision filed under another project\'s name', async () => {
    const stateDir = stateDirWith({ demo: revisionFile('gastown') });
    const ledger = createLedgerActivities({ docker: noDocker, stateDir });
    await nonRetryable(ledger.listRevisions('demo'), /000001\.json records project "gastown", not demo/);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });
});

describe('backup keys are <project>/<backup id>/<file>', () => {
  const ID = '20261122-030000-1a2b3c4d';

  it('accepts the layout and its prefixes, refuses anything else', () => {
    assert.deepEqual(backupKeyParts(`shop/${ID}/volume-db.tar.gz`), ['shop', ID, 'volume-db.tar.gz']);
    assert.deepEqual(backupKeyParts(`shop/${ID}`), ['shop', ID]);
    assert.deepEqual(backupKeyParts('shop'), ['shop']);
    for (const key of ['', '/', '../etc', 'demo/../gastown', `Shop/${ID}`, 'shop/..', 'shop/b1', `shop/${ID}/..`, `shop/${ID}/a/b`, `../../etc/${ID}/passwd`]) {
      assert.throws(() => backupKeyParts(key), DestinationError, key);
    }
    assert.throws(() => backupKeyParts('demo/../gastown'), /invalid backup key "demo\/\.\.\/gastown": "\.\." is not a backup ID/);
    assert.throws(() => backupKeyParts('../etc'), new RegExp(`"\\.\\." is not a valid project name: ${PROJECT_NAME_RULE.replace(/[-"]/g, '.')}`));
  });

  it('a local destination touches nothing for a refused key', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'names-dest-'));
    const outside = path.join(root, 'gastown', ID);
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'manifest.json'), '{}');
    const dest = new LocalDirectoryDestination(path.join(root, 'backups'));
    await assert.rejects(() => dest.remove('../gastown'), DestinationError);
    await assert.rejects(() => dest.list('demo/../../gastown'), DestinationError);
    await assert.rejects(() => dest.readText(`../gastown/${ID}/manifest.json`), DestinationError);
    assert.equal(fs.readFileSync(path.join(outside, 'manifest.json'), 'utf8'), '{}');
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('backup activities refuse bad project names and backup IDs, non-retryable, before touching the destination', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'names-backups-'));
    const backupDir = path.join(root, 'backups');
    fs.mkdirSync(path.join(root, 'gastown', ID), { recursive: true });
    fs.writeFileSync(path.join(root, 'gastown', ID, 'manifest.json'), '{}');
    const activities = createBackupActivities({ docker: noDocker, stateDir: root, backupDir });
    await nonRetryable(activities.listBackups({ project: '../gastown' }), /"\.\." is not a valid project name/);
    await nonRetryable(activities.readBackup({ project: '../gastown', backupId: ID }), /is not a valid project name/);
    await nonRetryable(activities.deleteBackups({ project: '../gastown', backupIds: [ID] }), /is not a valid project name/);
    await nonRetryable(activities.deleteBackups({ project: 'shop', backupIds: ['../../gastown'] }), /is not a backup ID/);
    await nonRetryable(activities.discardIncompleteBackup({ project: 'shop', backupId: '..' }), /"\.\." is not a backup ID/);
    assert.ok(fs.existsSync(path.join(root, 'gastown', ID, 'manifest.json')), 'the other folder is untouched');
    assert.equal(fs.existsSync(backupDir), false, 'nothing created');
    // A stray folder in a project's directory is listed as incomplete, never read as a backup.
    fs.mkdirSync(path.join(backupDir, 'shop', 'not-a-backup'), { recursive: true });
    assert.deepEqual(await activities.listBackups({ project: 'shop' }), { destination: `local directory ${backupDir}`, backups: [], incomplete: ['not-a-backup'] });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a backup schedule is refused before the server is asked', async () => {
    // An empty client: reaching it would fail with a TypeError instead of the rule.
    await assert.rejects(() => putBackupSchedule({} as Client, { project: 'demo/../gastown', taskQueue: 'q', everyMs: 1000 }), {
      message: `backup schedule: "demo/../gastown" is not a valid project name: ${PROJECT_NAME_RULE}`,
    });
  });
});

describe('CLI option parsers', () => {
  const refuses = (parse: (v: string) => unknown, values: string[]) => {
    for (const v of values) assert.throws(() => parse(v), InvalidArgumentError, `${JSON.stringify(v)} was accepted`);
  };

  it('-p: the same rule', () => {
    assert.equal(projectNameArg('a_b-1'), 'a_b-1');
    refuses(projectNameArg, REJECTED);
    assert.throws(() => projectNameArg('demo/../gastown'), { message: `"demo/../gastown" is not a valid project name: ${PROJECT_NAME_RULE}.` });
  });

  it('numbers, durations and ports', () => {
    assert.equal(wholeNumberArg('0'), 0);
    assert.equal(wholeNumberArg('4'), 4);
    refuses(wholeNumberArg, ['abc', '', ' ', '-1', '1.5', '0x10', '1e3', 'Infinity']);
    assert.equal(positiveWholeNumberArg('3'), 3);
    refuses(positiveWholeNumberArg, ['0', 'abc', '2.5']);
    assert.equal(positiveNumberArg('2.5'), 2.5);
    refuses(positiveNumberArg, ['abc', '0', '-3', '', 'NaN']);
    assert.equal(ratioArg('0.25'), 0.25);
    refuses(ratioArg, ['1.5', 'abc', '-0.1', '']);
    assert.equal(portArg('8080'), 8080);
    refuses(portArg, ['0', '65536', 'http', '80.5']);
    assert.equal(durationArg('1m30s'), 90_000);
    refuses(durationArg, ['abc', '-5s', '']);
  });
});

describe('--env-file reads any readable file', () => {
  const COMPOSE = 'services:\n  web:\n    image: "busybox:${TAG:-1}"\n';

  it('/dev/null is an empty env file', () => {
    const dir = projectDir({ 'docker-compose.yml': COMPOSE });
    assert.equal(load(dir, { envFiles: ['/dev/null'] }).spec.services.web.image, 'busybox:1');
  });

  it('a named pipe is read to its end', async () => {
    const dir = projectDir({ 'docker-compose.yml': COMPOSE });
    const fifo = path.join(dir, 'env.fifo');
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mkfifo exited ${code}`)))));
    // The writer is another process: the read below blocks this one until it has written.
    const writer = spawn('sh', ['-c', `printf 'TAG=from-pipe\\n' > '${fifo}'`]);
    assert.equal(load(dir, { envFiles: [fifo] }).spec.services.web.image, 'busybox:from-pipe');
    await new Promise((resolve) => writer.on('exit', resolve));
  });

  it('a missing file or a directory is still an error naming it', () => {
    const dir = projectDir({ 'docker-compose.yml': COMPOSE, 'envs/keep': '' });
    throwsCompose(() => load(dir, { envFiles: ['missing.env'] }), `missing.env: env file ${path.join(dir, 'missing.env')} not found`);
    throwsCompose(() => load(dir, { envFiles: ['envs'] }), `envs: env file ${path.join(dir, 'envs')} is a directory`);
  });
});
