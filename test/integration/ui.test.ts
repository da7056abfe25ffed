/**
 * The Temporal UI as a user drives it: headless Debian Chromium (through
 * playwright-core) opens the dev server's UI, fills the Start Workflow form
 * with one JSON object naming a stack of DOCKFLOW_STACKS_DIR, sees the deploy
 * complete, and the stack's container runs. Screenshots are kept in
 * test-artifacts/ (the form filled in, the finished workflow).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT, freePort, removeProject, startTestBed, startWorker, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-ui';
const PROJECT = 'itui';
const CHROMIUM = process.env.DOCKFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

describe('Temporal UI', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let browser: Browser;
  let uiPort: number;
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
    uiPort = await freePort();
    bed = await startTestBed(TASK_QUEUE, { uiPort });
    stopWorker = await startWorker(bed);
    await removeProject(bed.docker, PROJECT);
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
    await removeProject(bed.docker, PROJECT);
    await stopWorker?.();
    await bed?.teardown();
  });

  it('starts a deploy from the Start Workflow form with {"stack": name}; the UI shows it completed and the container runs', async () => {
    const workflowId = `ui-deploy-${PROJECT}-${Date.now()}`;
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const ui = `http://127.0.0.1:${uiPort}`;
    await page.goto(`${ui}/namespaces/default/workflows/start-workflow`, { waitUntil: 'networkidle', timeout: 60_000 });
    await page.getByTestId('workflowId').fill(workflowId);
    await page.getByTestId('taskQueue').fill(TASK_QUEUE);
    await page.getByTestId('workflowType').fill('deploy');
    // The input is a CodeMirror editor: type into it like a user.
    await page.locator('.cm-content').first().click();
    await page.keyboard.type(JSON.stringify({ stack: PROJECT }));
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-start-workflow-form.png'), fullPage: true });
    // Leaving the editor reformats the JSON over three lines and moves the button down:
    // blur first, so the click lands where the button then is.
    await page.getByRole('heading', { name: 'Start a Workflow' }).click();
    await page.getByTestId('start-workflow-button').click();
    // The UI confirms with a toast that links to the new workflow.
    await page.getByText('Workflow started successfully').click({ timeout: 30_000 });
    // The workflow's page; its status badge says Completed once done.
    await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), { timeout: 60_000 });
    // The header reads "Completed" above the workflow ID once it is done (the UI refreshes running workflows itself).
    await page.waitForFunction((id) => /Completed\s+$/.test(document.body.innerText.split(id)[0] ?? ''), workflowId, { timeout: 120_000, polling: 500 });
    // The timeline names each activity with its summary (workflows/interceptors.ts).
    await page.getByText(`convergeContainer • create ${PROJECT}-web-1`).first().waitFor({ state: 'attached', timeout: 30_000 });
    const body = await page.locator('body').innerText();
    assert.match(body, new RegExp(`waitHealthy • wait healthy ${PROJECT}-web-1`));
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-deploy-completed.png'), fullPage: true });

    const description = await bed.env.client.workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.type, 'deploy');
    const result = (await bed.env.client.workflow.getHandle(workflowId).result()) as { project: string };
    assert.equal(result.project, PROJECT);
    const info = await bed.docker.getContainer(`${PROJECT}-web-1`).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.State.Health?.Status, 'healthy');
    assert.ok(fs.statSync(path.join(ARTIFACTS, 'ui-deploy-completed.png')).size > 10_000, 'a screenshot with something in it');
    await page.close();
  });
});
