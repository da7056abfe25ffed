#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so a checkout works without a build step.
require('tsx/cjs');
require('../src/cli/main').main().then((code) => {
  process.exitCode = code;
});
