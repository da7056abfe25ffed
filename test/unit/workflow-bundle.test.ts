/**
 * The bundle a worker without DOCKFLOW_WORKFLOW_BUNDLE builds (workers/bundle.ts):
 * webpack in a child process, so its heap never lands in the worker's; a slim
 * source map (file and line, no sources' text); a failure says what failed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { bundleInChildProcess } from '../../workers/bundle';
import { SLIM_DEVTOOL, workflowBundleOptions } from '../../workers/worker';

describe('workflow bundle built in a child process', () => {
  it('is a reusable-context bundle with a slim map, removed on request', { timeout: 120_000 }, async () => {
    const { file, remove } = await bundleInChildProcess({ ...workflowBundleOptions(), devtool: SLIM_DEVTOOL });
    const code = fs.readFileSync(file, 'utf8');
    assert.ok(code.includes('globalThis.__webpack_module_cache__'), 'the SDK refuses a bundle without the per-workflow module cache');
    const map = JSON.parse(Buffer.from(code.slice(code.lastIndexOf('base64,') + 'base64,'.length), 'base64').toString());
    assert.equal(map.sourcesContent, undefined);
    assert.ok(map.sources.some((s: string) => s.endsWith('workflows/project-lock.ts')), 'frames map to the TypeScript sources');
    assert.ok(code.length < 2.5 * 1024 * 1024, `bundle is ${code.length} bytes`);
    remove();
    assert.equal(fs.existsSync(file), false);
  });

  it('fails naming the bundling, with webpack\'s message', { timeout: 120_000 }, async () => {
    await assert.rejects(
      bundleInChildProcess({ workflowsPath: '/nonexistent/workflows.ts', workflowInterceptorModules: [], devtool: SLIM_DEVTOOL }),
      /^Error: bundling the workflows failed: .*nonexistent/s,
    );
  });
});
