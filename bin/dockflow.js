#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm install` or `npm run build`)
// while it was built from the sources now in the checkout; otherwise the
// TypeScript sources through tsx, so a checkout works without a build step and
// an edited source is never shadowed by an older build.
// DOCKFLOW_FROM_SOURCE=1 forces the sources.
const path = require('node:path');
const { isBuildFresh } = require('./build-stamp');

const root = path.resolve(__dirname, '..');
let entry;
if (process.env.DOCKFLOW_FROM_SOURCE !== '1' && isBuildFresh(root)) {
  entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
} else {
  require('tsx/cjs');
  entry = path.join(root, 'src', 'cli', 'main.ts');
}
require(entry).main().then((code) => {
  process.exitCode = code;
});
