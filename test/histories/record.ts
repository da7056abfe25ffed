/**
 * Records histories of real runs of every workflow type into
 * test/histories/*.json, for the replay test. Run it after a deliberate
 * change to workflow code (see docs/workflow-changes.md):
 *
 *   npm run record-histories
 *
 * It needs the test bed (Docker + the Temporal CLI), like the integration tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { findTemporalCli } from '../../src/temporal/settings';
import { progressQuery } from '../../src/messages';
import { loadStack } from '../../src/compose';
import { parseNotifyTargets } from '../../src/notify/targets';
import { buildImage, projectDir, removeProject, startTestBed, startWorker } from '../support/harness';

const TASK_QUEUE = 'record-histories';
const OUT = path.resolve(__dirname);

async function main(): Promise<void> {
  const cli = findTemporalCli();
  if (!cli) throw new Error('the Temporal CLI is needed to export histories: run scripts/testbed.sh temporal');
  const bed = await startTestBed(TASK_QUEUE);
  // A command target for `down` only: the down history then holds the notification's start, and its delivery workflow is recorded too.
  const stop = await startWorker(bed, { notify: parseNotifyTargets({ DOCKFLOW_NOTIFY: 'cmd:///bin/true#operations=down' }) });
  const project = 'rechist';
  await buildImage(bed.docker, 'dockflow-test/broken:1', 'FROM dockflow/busybox:1\nENTRYPOINT ["sh", "-c", "echo broken release; exec sleep 3600", "--"]\n');
  await removeProject(bed.docker, project);
  const compose = (release: string, extra = '') => `
name: ${project}
services:
  db:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ok > /www/index.html; exec httpd -f -p 80 -h /www"]
    init: true
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval: 1s, retries: 5}
    volumes: ["data:/data"]
    x-dockflow:
      backup: {stop: true}
  migrate:
    image: dockflow/busybox:1
    command: ["true"]
    depends_on: {db: {condition: service_healthy}}
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "echo ${release} > /www/index.html; exec httpd -f -p 80 -h /www"]
    init: true
    environment: {RELEASE: "${release}"}
    depends_on: {migrate: {condition: service_completed_successfully}}
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval: 1s, retries: 3}
    deploy:
      replicas: 2
      update_config: {order: start-first, failure_action: rollback}
${extra}
volumes:
  data: {}
`;
  const dir = projectDir(project, { 'docker-compose.yml': compose('1') });
  const spec = (release: string) => {
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), compose(release));
    return loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
  };
  // The Temporal CLI writes the canonical JSON form that historyFromJSON reads back.
  const save = (name: string, workflowId: string, outcome: string) => {
    const json = execFileSync(cli, ['workflow', 'show', '--address', bed.address, '--workflow-id', workflowId, '--output', 'json'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(OUT, `${name}.json`), json);
    console.log(`${name}: ${outcome} (${JSON.parse(json).events.length} events)`);
  };
  const scenarios: [string, string, unknown][] = [
    ['deploy-create', 'deploy', { spec: spec('1') }],
    ['deploy-noop', 'deploy', { spec: spec('1') }],
    ['deploy-dry-run', 'deploy', { spec: spec('2'), dryRun: true }],
    ['deploy-rolling', 'deploy', { spec: spec('2') }],
    ['deploy-compose-reference', 'deploy', { composeFiles: [path.join(dir, 'docker-compose.yml')] }],
    ['update-scale', 'update', { project, service: 'web', scale: 3 }],
    ['update-failed-rolled-back', 'update', { project, service: 'web', image: 'dockflow-test/broken:1', rollout: { order: 'stop-first' } }],
    ['rollback', 'rollback', { project }],
    ['history', 'history', { project }],
    ['deploy-invalid-input', 'deploy', { composeFiles: 'not-a-list' }],
    ['backup', 'backup', { project }],
    ['backups', 'backups', { project }],
    ['migrate', 'migrate', { project, service: 'db', command: ['sh', '-c', 'echo migrated > /data/schema'] }],
    ['migrate-failed-restored', 'migrate', { project, service: 'db', command: ['sh', '-c', 'echo half > /data/schema; exit 3'] }],
    ['restore-invalid-id', 'restore', { project, backupId: '20000101-000000-00000000' }],
  ];
  try {
    for (const [name, type, input] of scenarios) {
      const handle = await bed.env.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `history-${name}`, args: [input] });
      const outcome = await handle.result().then(
        () => 'completed',
        (err: Error) => `failed: ${(err.cause as Error | undefined)?.message ?? err.message}`,
      );
      save(name, handle.workflowId, `${type} ${outcome}`);
    }
    // A restore of the backup recorded above (its ID is only known now).
    const taken = (await bed.env.client.workflow.getHandle('history-backup').result()) as { backupId: string };
    const restore = await bed.env.client.workflow.start('restore', { taskQueue: TASK_QUEUE, workflowId: 'history-restore', args: [{ project, backupId: taken.backupId }] });
    await restore.result();
    save('restore', restore.workflowId, 'restore completed');
    // A deploy cancelled while its new container waits to become healthy, then undone.
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), compose('slow').replace('echo slow > /www/index.html;', 'sleep 60;'));
    const slow = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} }).spec;
    const cancelled = await bed.env.client.workflow.start('deploy', { taskQueue: TASK_QUEUE, workflowId: 'history-deploy-cancelled', args: [{ spec: slow }] });
    for (let i = 0; i < 300; i++) {
      const progress = await cancelled.query(progressQuery).catch(() => undefined);
      if (progress?.steps.some((st) => st.title.startsWith('start-first replace') && st.state === 'running')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await cancelled.cancel();
    await cancelled.result().catch(() => undefined);
    save('deploy-cancelled', cancelled.workflowId, 'deploy cancelled');
    const down = await bed.env.client.workflow.start('down', { taskQueue: TASK_QUEUE, workflowId: 'history-down', args: [{ project }] });
    await down.result();
    save('down', down.workflowId, 'down completed');
    const notify = bed.env.client.workflow.getHandle(`${down.workflowId}-notify-${down.firstExecutionRunId}`);
    await notify.result();
    save('notify', notify.workflowId, 'notifyOperation completed');
  } finally {
    await removeProject(bed.docker, project);
    await stop();
    await bed.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
