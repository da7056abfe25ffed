// What dist/ was compiled from, and whether the checkout still matches it.
// Shared by scripts/build.js (writes the stamp) and bin/dockflow.js (checks it
// at every start, so it stays cheap: one readdir per source folder and one
// stat per file, a few milliseconds, no hashing).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The folders compiled to dist/, relative to the package root. */
const SOURCE_DIRS = ['src', 'workflows', 'activities', 'workers'];
const DIST_DIR = 'dist';
const STAMP_FILE = path.join(DIST_DIR, 'build-stamp.json');

/** Every compiled source under SOURCE_DIRS, relative to root, sorted (declaration files emit nothing). */
function listSources(root) {
  const files = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(child);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return files.sort();
}

/** path → [mtime in ms, size]: any edit, added or removed file changes it. */
function stampOf(root, sources) {
  const stamp = {};
  for (const file of sources) {
    const st = fs.statSync(path.join(root, file));
    stamp[file] = [st.mtimeMs, st.size];
  }
  return stamp;
}

/**
 * True when dist/ was built from exactly the sources in the checkout now.
 * False when there is no build, a build of other sources, or no sources at
 * all (a package without them runs what it ships).
 */
function isBuildFresh(root) {
  let recorded;
  try {
    recorded = JSON.parse(fs.readFileSync(path.join(root, STAMP_FILE), 'utf8'));
  } catch {
    return false;
  }
  let current;
  try {
    current = stampOf(root, listSources(root));
  } catch {
    return false;
  }
  const files = Object.keys(current);
  if (files.length === 0 || files.length !== Object.keys(recorded).length) return false;
  return files.every((file) => {
    const before = recorded[file];
    return Array.isArray(before) && before[0] === current[file][0] && before[1] === current[file][1];
  });
}

/**
 * The CLI module bin/dockflow.js runs: the compiled one while it is fresh,
 * else the TypeScript source (through tsx); DOCKFLOW_FROM_SOURCE=1 forces the source.
 */
function cliEntry(root, env) {
  if (env.DOCKFLOW_FROM_SOURCE !== '1' && isBuildFresh(root)) return { compiled: true, file: path.join(root, DIST_DIR, 'src', 'cli', 'main.js') };
  return { compiled: false, file: path.join(root, 'src', 'cli', 'main.ts') };
}

module.exports = { SOURCE_DIRS, DIST_DIR, STAMP_FILE, listSources, stampOf, isBuildFresh, cliEntry };
