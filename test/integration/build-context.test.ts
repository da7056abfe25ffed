/**
 * A `build:` context is sent as Docker's client sends it: what
 * `.dockerignore` excludes (.env, node_modules, a nested secret file) never
 * reaches the Docker engine, so the built image lacks it, while an exception
 * (`!`) brings a file back. Real deploy workflow, real worker, real build.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadStack } from '../../src/compose';
import { execIn, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-secure-build';
const PROJECT = 'securebuild';
const IMAGE = 'securebuild-app:it';

describe('build contexts honour .dockerignore', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  const secret = `securebuild-${randomBytes(9).toString('hex')}`;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await removeProject(bed.docker, PROJECT);
    await bed.docker.getImage(IMAGE).remove({ force: true }).catch(() => undefined);
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    await stopWorker?.();
    await removeProject(bed.docker, PROJECT);
    // The ledger tags each revision's image; the built image goes only with its last tag.
    for (const tag of [IMAGE, `dockflow-revision/${PROJECT}-app:r1`]) await bed?.docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    await bed?.teardown();
  });

  it('builds an image without the ignored files', async () => {
    const dir = projectDir(PROJECT, {
      'compose.yaml': `
name: ${PROJECT}
services:
  app:
    image: ${IMAGE}
    build: ./app
    init: true
`,
      'app/Dockerfile': 'FROM dockflow/busybox:1\nCOPY . /ctx\nCMD ["sleep", "3600"]\n',
      'app/.dockerignore': '# secrets and dependencies stay on the host\n.env\nnode_modules\nconfig/secret.yml\n**/*.pem\nsrc\n!src/main.js\n',
      'app/.env': `API_KEY=${secret}\n`,
      'app/node_modules/dep/index.js': `module.exports = "${secret}";\n`,
      'app/config/secret.yml': `password: ${secret}\n`,
      'app/config/public.yml': 'greeting: hello\n',
      'app/deep/er/tls.pem': `${secret}\n`,
      'app/src/main.js': 'console.log("main");\n',
      'app/src/debug.js': `console.log("${secret}");\n`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'compose.yaml')], environment: {} });
    await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-${PROJECT}`, args: [{ spec }] });

    const container = `${PROJECT}-app-1`;
    const listing = (await execIn(bed.docker, container, ['find', '/ctx'])).trim().split('\n').sort();
    assert.deepEqual(listing, [
      '/ctx',
      '/ctx/.dockerignore',
      '/ctx/Dockerfile',
      '/ctx/config',
      '/ctx/config/public.yml',
      '/ctx/deep',
      '/ctx/deep/er',
      '/ctx/src',
      '/ctx/src/main.js',
    ]);
    const grep = await execIn(bed.docker, container, ['grep', '-r', '-l', secret, '/ctx']);
    assert.equal(grep.trim(), '', 'no file of the image holds the secret');
  });
});
