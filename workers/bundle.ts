/**
 * The workflow bundle of a worker started without one (no
 * DOCKFLOW_WORKFLOW_BUNDLE): built by webpack in a child Node process, then
 * loaded from a temporary file. Built in the worker's own process, webpack's
 * heap stayed in the worker's RSS for its whole life: an idle worker held
 * 356-370 MiB instead of about 200 (bench/RESULTS.md, Scale). The child
 * runs plain JavaScript (the SDK's bundler reads the TypeScript sources
 * itself), so this works from the compiled CLI and from the sources alike.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';

/** What the child bundles: the options of bundleWorkflowCode that are data. */
export interface ChildBundleOptions {
  workflowsPath: string;
  workflowInterceptorModules: string[];
  failureConverterPath?: string;
  /** Modules shared by every workflow execution (workers/worker.ts sharedWorkflowModules). */
  preloadModules?: string[];
  /** webpack's devtool (workers/worker.ts slimSourceMap). */
  devtool: string;
}

// The child's program: argv = the SDK's entry, the options as JSON, the output file. Webpack's report is
// dropped unless it failed (then on stderr, which the parent quotes).
const CHILD = `
const fs = require('node:fs');
const [sdk, json, out] = process.argv.slice(1);
const o = JSON.parse(json);
const quiet = () => undefined;
const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: (m) => console.error(m) };
require(sdk)
  .bundleWorkflowCode({ workflowsPath: o.workflowsPath, workflowInterceptorModules: o.workflowInterceptorModules, failureConverterPath: o.failureConverterPath, preloadModules: o.preloadModules, webpackConfigHook: (c) => ({ ...c, devtool: o.devtool }), logger })
  .then(({ code }) => fs.writeFileSync(out, code), (err) => { console.error(err && err.stack || String(err)); process.exit(1); });
`;

/**
 * Bundles in a child process and returns the bundle's file and a function
 * that removes it (once Worker.create has read it).
 */
export async function bundleInChildProcess(options: ChildBundleOptions): Promise<{ file: string; remove: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-workflows-'));
  const file = path.join(dir, 'workflows.js');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, ['-e', CHILD, require.resolve('@temporalio/worker'), JSON.stringify(options), file], { maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`bundling the workflows failed: ${stderr.trim() || err.message}`));
        else resolve();
      });
    });
  } catch (err) {
    remove();
    throw err;
  }
  return { file, remove };
}
