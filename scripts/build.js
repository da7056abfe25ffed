#!/usr/bin/env node
// Compiles src/, workflows/, activities/ and workers/ to CommonJS in dist/ (one
// output file per source file, the layout of the checkout, so relative
// requires and require.resolve keep working), then writes dist/build-stamp.json,
// the list of sources it was built from. bin/dockflow.js runs dist/ only while
// that list still matches the checkout (bin/build-stamp.js), else it falls
// back to tsx.
//
// esbuild, not tsc: it is a dependency of tsx, so it is present in a
// production install (--omit=dev) too, and it transpiles exactly as tsx does
// at run time from a checkout. Type checking stays `npm run typecheck`.
//
// Run by `npm install` (prepare) and by the Dockerfile; `npm run build` by hand.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { SOURCE_DIRS, STAMP_FILE, DIST_DIR, listSources, stampOf } = require('../bin/build-stamp');

const root = path.resolve(__dirname, '..');

function main() {
  // The Dockerfile's dependency stage installs from package.json alone: nothing to build there.
  if (!SOURCE_DIRS.every((dir) => fs.existsSync(path.join(root, dir)))) {
    console.error(`dockflow build: skipped, ${SOURCE_DIRS.join('/, ')}/ not all present`);
    return;
  }
  const esbuild = require('esbuild');
  const started = Date.now();
  const sources = listSources(root);
  // A stamp taken before compiling: a source edited during the build makes it stale, never wrongly fresh.
  const stamp = stampOf(root, sources);
  const dist = path.join(root, DIST_DIR);
  // Output of deleted sources must not linger (a stale require would still find it).
  fs.rmSync(dist, { recursive: true, force: true });
  esbuild.buildSync({
    entryPoints: sources.map((file) => path.join(root, file)),
    outdir: dist,
    outbase: root,
    bundle: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    tsconfig: path.join(root, 'tsconfig.json'),
    // import() becomes a require() (CommonJS, as tsc emits it): left as import(), Node would resolve
    // it as an ES module specifier, which needs a file extension, and fail.
    supported: { 'dynamic-import': false },
    logLevel: 'warning',
  });
  fs.writeFileSync(path.join(root, STAMP_FILE), `${JSON.stringify(stamp)}\n`);
  console.error(`dockflow build: ${sources.length} files compiled to ${DIST_DIR}/ in ${Date.now() - started} ms`);
}

main();
