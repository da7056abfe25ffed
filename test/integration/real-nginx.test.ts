/**
 * A real nginx (the test bed's dockflow-local/nginx:1.22) in front of a
 * service that a start-first update replaces, with a client requesting
 * through nginx the whole time.
 *
 * - Without `x-dockflow.after_replace`, nginx keeps the address it resolved
 *   for the upstream when it started: once the old container is gone, every
 *   request is a 502 Bad Gateway (or a 504, connecting to an address nobody
 *   has) until nginx is reloaded: the classic gotcha of compose stacks
 *   behind nginx.
 * - With `after_replace: [{service: proxy, signal: SIGHUP}]`, nginx reloads
 *   while the old container still drains: not one request fails, and the
 *   new release answers afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { freePort, projectDir, removeProject, startTestBed, startWorker, TEST_IMAGE, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-real-nginx';
const NGINX_IMAGE = 'dockflow-local/nginx:1.22';
const PLAIN = 'itnginxplain';
const NUDGED = 'itnginxnudged';

let seq = 0;
const wfId = (name: string) => `it-nginx-${name}-${Date.now()}-${++seq}`;

const NGINX_CONF = `server {
    listen 80;
    location / {
        proxy_pass http://web:8080;
        # A dead upstream address shows in seconds instead of a minute. Not
        # less: taking the old container's aliases away reconnects it to the
        # network, and a connect attempt in that instant needs the kernel's
        # SYN retry (1 s) to get through.
        proxy_connect_timeout 3s;
    }
}
`;

function composeFile(port: number, nudge: boolean): string {
  return `
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo release-$$RELEASE > /www/index.html; httpd -f -p 8080 -h /www & wait"]
    environment:
      RELEASE: \${RELEASE}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
    deploy:
      update_config:
        order: start-first
${nudge ? '    x-dockflow:\n      after_replace:\n        - {service: proxy, signal: SIGHUP}\n' : ''}
  proxy:
    image: ${NGINX_IMAGE}
    ports: ["127.0.0.1:${port}:80"]
    volumes: ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    depends_on:
      web:
        condition: service_healthy
`;
}

/** Requests through nginx, one after another, until stopped; each status counted with its body. */
function startClient(port: number): { stop: () => Promise<{ total: number; failed: number; statuses: Record<string, number>; lastBody: string }> } {
  let running = true;
  const statuses: Record<string, number> = {};
  let total = 0;
  let failed = 0;
  let lastBody = '';
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(8000) });
        const body = (await res.text()).trim();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status !== 200) failed += 1;
        else lastBody = body;
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const key = `${(err as Error).name}${cause ? `:${cause.code ?? cause.message}` : ''}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
        failed += 1;
      }
      total += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { total, failed, statuses, lastBody };
    },
  };
}

describe('a real nginx in front of a service that is replaced', () => {
  let bed: TestBed;
  let stopWorker: (() => Promise<void>) | undefined;

  before(async () => {
    bed = await startTestBed(TASK_QUEUE);
    await bed.docker.getImage(NGINX_IMAGE).inspect().catch(() => {
      throw new Error(`${NGINX_IMAGE} is missing: run bash scripts/testbed.sh images`);
    });
    for (const p of [PLAIN, NUDGED]) await removeProject(bed.docker, p);
    stopWorker = await startWorker(bed);
  });

  after(async () => {
    await stopWorker?.();
    for (const p of [PLAIN, NUDGED]) await removeProject(bed.docker, p);
    await bed?.teardown();
  });

  /** Deploy release 1, then release 2 while a client requests through nginx; what the client saw during and after. */
  async function updateUnderLoad(project: string, nudge: boolean) {
    const port = await freePort();
    const dir = projectDir(project, { 'docker-compose.yml': composeFile(port, nudge), 'nginx.conf': NGINX_CONF });
    const deploy = async (release: string) => {
      const { spec } = loadStack({ files: [path.join(dir, 'docker-compose.yml')], environment: { RELEASE: release } });
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: wfId(`${project}-${release}`), args: [{ spec }] });
    };
    await deploy('1');
    const first = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal((await first.text()).trim(), 'release-1');
    const during = startClient(port);
    await deploy('2');
    const duringUpdate = await during.stop();
    // After the deploy reported success: what a user sees now.
    const afterwards = startClient(port);
    await new Promise((r) => setTimeout(r, 6000));
    const afterUpdate = await afterwards.stop();
    return { duringUpdate, afterUpdate };
  }

  it('without after_replace: nginx keeps the old address and answers 502 once the old container is gone', { timeout: 300_000 }, async () => {
    const { duringUpdate, afterUpdate } = await updateUnderLoad(PLAIN, false);
    assert.ok(duringUpdate.total > 20, `the client kept requesting (${duringUpdate.total})`);
    assert.ok(afterUpdate.total >= 1, JSON.stringify(afterUpdate.statuses));
    assert.equal(afterUpdate.failed, afterUpdate.total, `every request fails after the update: ${JSON.stringify(afterUpdate.statuses)}`);
    // 502 Bad Gateway, or 504 when connecting to the vanished address times out.
    assert.deepEqual(Object.keys(afterUpdate.statuses).filter((s) => s !== '502' && s !== '504'), [], JSON.stringify(afterUpdate.statuses));
  });

  it('with after_replace SIGHUP: nginx reloads while the old container drains, and no request fails', { timeout: 300_000 }, async () => {
    const { duringUpdate, afterUpdate } = await updateUnderLoad(NUDGED, true);
    assert.ok(duringUpdate.total > 20, `the client kept requesting (${duringUpdate.total})`);
    assert.equal(duringUpdate.failed, 0, `no failed request during the update: ${JSON.stringify(duringUpdate.statuses)}`);
    assert.equal(afterUpdate.failed, 0, JSON.stringify(afterUpdate.statuses));
    assert.equal(afterUpdate.lastBody, 'release-2');
  });
});
