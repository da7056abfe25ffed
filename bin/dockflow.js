#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm install` or `npm run build`)
// while it was built from the sources now in the checkout; otherwise the
// TypeScript sources through tsx, so a checkout works without a build step and
// an edited source is never shadowed by an older build.
// DOCKFLOW_FROM_SOURCE=1 forces the sources.
const path = require('node:path');
const { cliEntry } = require('./build-stamp');

// Node 22+: V8 keeps compiled code of loaded modules on disk between runs (Node 20 has no such API).
require('node:module').enableCompileCache?.();

const entry = cliEntry(path.resolve(__dirname, '..'), process.env);
if (entry.compiled) {
  require(entry.file).main().then((code) => {
    process.exitCode = code;
  });
} else {
  // The sources need tsx's loader for both require() and the lazy import()s
  // the CLI uses to load only what a command needs; only `--import tsx` at
  // start installs both, so the sources run in a child Node with it.
  const { spawn } = require('node:child_process');
  const runner = path.join(__dirname, 'run-sources.js');
  // tsx resolved from here, not from the current directory (where `--import tsx` would look for it):
  // the CLI runs from any directory, a project's above all.
  const tsx = require('node:url').pathToFileURL(require.resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, runner, entry.file, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}
