/**
 * The Temporal UI as a user drives it: headless Debian Chromium (through
 * playwright-core) opens the dev server's UI, fills the Start Workflow form
 * with one JSON object naming a stack of DOCKFLOW_STACKS_DIR, sees the deploy
 * complete with readable activity summaries, and the stack's container runs.
 * Payloads are encrypted (DOCKFLOW_ENCRYPTION_KEY) and the UI goes through a
 * codec server: it encodes the form's input and shows a secret in clear that
 * the history itself holds only encrypted. Screenshots go to test-artifacts/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Client } from '@temporalio/client';
import { loadStack } from '../../src/compose';
import { AesGcmCodec, dataConverterFromEnv, keysFromEnv } from '../../src/temporal/codec';
import { createCodecServer } from '../../src/temporal/codec-server';
import { REPO_ROOT, freePort, projectDir, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-ui';
const PROJECT = 'itui';
const SECRET_PROJECT = 'ituisecret';
const CHROMIUM = process.env.DOCKFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

/** The page's globals, for functions that run in the browser (this Node project has no DOM types). */
type PageGlobals = { document: { body: { innerText: string } } };

const ERROR_PAGE = /Uh oh\. There's an error/;

/**
 * Chromium aborts requests in flight with ERR_NETWORK_CHANGED while Docker
 * adds interfaces (a deploy's bridge network and veth pairs), and the UI then
 * shows its error page: load again once the host's interfaces settled.
 */
async function openUntilLoaded(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.goto(url, { waitUntil: 'networkidle', timeout: 60_000 });
    const text = await page.locator('body').innerText();
    if (!ERROR_PAGE.test(text)) return;
    if (attempt === 5) throw new Error(`the UI shows its error page at ${url} after ${attempt} loads:\n${text.slice(0, 300)}`);
    await page.waitForTimeout(2000);
  }
}

/** Wait until the workflow page's header reads "Completed" above the workflow ID (reloading the UI's error page, see above). */
async function waitCompleted(page: Page, workflowId: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await page.locator('body').innerText();
    if (/Completed\s+$/.test(text.split(workflowId)[0] ?? '') && text.includes(workflowId)) return;
    if (ERROR_PAGE.test(text)) await openUntilLoaded(page, page.url());
    else await page.waitForTimeout(500);
  }
  throw new Error(`the UI did not show ${workflowId} as Completed within ${timeoutMs} ms:\n${text.slice(0, 500)}`);
}

describe('Temporal UI', () => {
  let bed: TestBed;
  let client: Client;
  let browser: Browser;
  let codecServer: http.Server;
  let ui: string;
  let stopWorker: (() => Promise<void>) | undefined;
  const keyEnv = { DOCKFLOW_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  const previousStacksDir = process.env.DOCKFLOW_STACKS_DIR;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/testbed.sh installs Debian's chromium`);
    const stacks = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-ui-stacks-'));
    fs.mkdirSync(path.join(stacks, PROJECT));
    fs.writeFileSync(
      path.join(stacks, PROJECT, 'compose.yaml'),
      `services:
  web:
    image: dockflow/busybox:1
    command: ["sh", "-c", "mkdir -p /www && echo started-from-the-ui > /www/index.html && exec httpd -f -p 80 -h /www"]
    init: true
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval: 1s, timeout: 2s, retries: 30}
`,
    );
    process.env.DOCKFLOW_STACKS_DIR = stacks;

    const uiPort = await freePort();
    const codecPort = await freePort();
    ui = `http://127.0.0.1:${uiPort}`;
    // No token: loopback only, as `dockflow dev` runs it.
    codecServer = createCodecServer({ codec: new AesGcmCodec(keysFromEnv(keyEnv)), allowOrigin: [ui, `http://localhost:${uiPort}`] });
    await new Promise<void>((resolve) => codecServer.listen(codecPort, '127.0.0.1', resolve));
    bed = await startTestBed(TASK_QUEUE, { uiPort, uiCodecEndpoint: `http://127.0.0.1:${codecPort}` });
    for (const p of [PROJECT, SECRET_PROJECT]) await removeProject(bed.docker, p);

    const dataConverter = dataConverterFromEnv(keyEnv);
    client = new Client({ connection: bed.env.connection, namespace: 'default', dataConverter });
    stopWorker = await startWorker(bed, { dataConverter });

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu', '--disable-extensions', '--no-first-run', '--disable-sync'],
    });
  });

  after(async () => {
    if (previousStacksDir === undefined) delete process.env.DOCKFLOW_STACKS_DIR;
    else process.env.DOCKFLOW_STACKS_DIR = previousStacksDir;
    await browser?.close();
    for (const p of [PROJECT, SECRET_PROJECT]) await removeProject(bed.docker, p);
    await stopWorker?.();
    codecServer?.close();
    await bed?.teardown();
  });

  it('starts a deploy from the Start Workflow form with {"stack": name}; the UI shows it completed, with activity summaries, and the container runs', async () => {
    const workflowId = `ui-deploy-${PROJECT}-${Date.now()}`;
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await openUntilLoaded(page, `${ui}/namespaces/default/workflows/start-workflow`);
    await page.getByTestId('workflowId').fill(workflowId);
    await page.getByTestId('taskQueue').fill(TASK_QUEUE);
    await page.getByTestId('workflowType').fill('deploy');
    // The input is a CodeMirror editor: type into it like a user.
    await page.locator('.cm-content').first().click();
    await page.keyboard.type(JSON.stringify({ stack: PROJECT }));
    // Leaving the editor reformats the JSON over three lines and moves the button down:
    // blur first, so the click lands where the button then is.
    await page.getByRole('heading', { name: 'Start a Workflow' }).click();
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-start-workflow-form.png'), fullPage: true });
    await page.getByTestId('start-workflow-button').click();
    // The UI confirms with a toast that links to the new workflow.
    await page.getByText('Workflow started successfully').click({ timeout: 30_000 });
    await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), { timeout: 60_000 });
    await waitCompleted(page, workflowId);
    // The timeline names each activity with its summary (workflows/interceptors.ts). A
    // one-service stack is one level whose only service nothing depends on: its create and
    // its wait are one batched step (the fewer-round-trips patch), named as both.
    await page.getByText(`convergeContainers • create ${PROJECT}-web-1 and wait healthy`).first().waitFor({ state: 'attached', timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-deploy-completed.png'), fullPage: true });

    const handle = client.workflow.getHandle(workflowId);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    assert.equal(((await handle.result()) as { project: string }).project, PROJECT);
    // The form's input went through the codec server's /encode: history holds it encrypted.
    const started = (await handle.fetchHistory()).events![0].workflowExecutionStartedEventAttributes!;
    assert.equal(Buffer.from(started.input!.payloads![0].metadata!.encoding!).toString(), 'binary/encrypted');
    const info = await bed.docker.getContainer(`${PROJECT}-web-1`).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.State.Health?.Status, 'healthy');
    assert.ok(fs.statSync(path.join(ARTIFACTS, 'ui-deploy-completed.png')).size > 10_000, 'a screenshot with something in it');
    await page.close();
  });

  it('shows a secret decoded through the codec server while the history holds it only encrypted', async () => {
    const secret = `ui-secret-${randomBytes(8).toString('hex')}`;
    const dir = projectDir(SECRET_PROJECT, {
      'docker-compose.yml': `
name: ${SECRET_PROJECT}
services:
  app:
    image: dockflow/busybox:1
    command: ["sleep", "3600"]
    init: true
    environment:
      DB_PASSWORD: ${secret}
`,
    });
    const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: {} });
    const workflowId = `ui-secret-${Date.now()}`;
    await client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId, args: [{ spec }] });
    const raw = JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
    assert.ok(!raw.includes(secret) && !raw.includes(Buffer.from(secret).toString('base64')), 'the history holds no plaintext secret');

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const { runId } = await client.workflow.getHandle(workflowId).describe();
    await openUntilLoaded(page, `${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`);
    await waitCompleted(page, workflowId);
    // The Input card shows the spec decoded, secret included.
    await page.waitForFunction((s) => (globalThis as unknown as PageGlobals).document.body.innerText.includes(s), secret, { timeout: 30_000, polling: 500 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-secret-decoded.png'), fullPage: true });
    await page.close();
  });
});
