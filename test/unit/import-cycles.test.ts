import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { importCycles, importGraph, importsOf, sourceFiles, SOURCE_FOLDERS } from '../support/import-graph';

const root = path.resolve(__dirname, '../..');

/** Files written into a fresh temporary folder; the paths relative to it. */
function tree(files: Record<string, string>): { dir: string; cycles: () => string[][] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-cycles-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return { dir, cycles: () => importCycles(importGraph(sourceFiles(dir))).map((c) => c.map((f) => path.relative(dir, f))) };
}

describe('import cycles', () => {
  it(`none among the files of ${SOURCE_FOLDERS.join(', ')} (type imports count too)`, () => {
    const files = sourceFiles(root);
    // The walk found the tree, not an empty folder.
    assert.ok(files.length > 100, `${files.length} files`);
    assert.ok(files.includes(path.join(root, 'workflows/apply.ts')));
    const cycles = importCycles(importGraph(files)).map((c) => c.map((f) => path.relative(root, f)).join(' → '));
    assert.deepEqual(cycles, [], `import cycles (break each by moving what both sides share into a module both import):\n${cycles.join('\n')}`);
  });

  it('finds a planted cycle of any import kind, and names its path', () => {
    const planted = tree({
      'workflows/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'workflows/b.ts': "import type { C } from '../src/c';\nexport const b = 1;\nexport type B = C;\n",
      'src/c.ts': "export type C = import('../workflows/a').A;\n",
      // Not a cycle: d imports e, e imports nothing of ours; comments and strings do not count.
      'activities/d.ts': "// import { d } from './d';\nimport { e } from './e';\nexport const d = `import('./d')` + e;\n",
      'activities/e.ts': "import { readFileSync } from 'node:fs';\nexport const e = String(readFileSync);\n",
      // A module re-exporting from itself through an index.
      'workers/index.ts': "export * from './w';\n",
      'workers/w.ts': "export { x } from '.';\nexport const w = 1;\n",
    });
    try {
      assert.deepEqual(planted.cycles(), [
        ['src/c.ts', 'workflows/a.ts', 'workflows/b.ts', 'src/c.ts'],
        ['workers/index.ts', 'workers/w.ts', 'workers/index.ts'],
      ]);
    } finally {
      fs.rmSync(planted.dir, { recursive: true, force: true });
    }
  });

  it('finds a file that imports itself, and a lazy import()', () => {
    const planted = tree({
      'src/self.ts': "import { self } from './self';\nexport const again = self;\n",
      'src/cli/main.ts': "export async function run() { return (await import('../lazy')).lazy; }\n",
      'src/lazy.ts': "import { run } from './cli/main';\nexport const lazy = run;\n",
    });
    try {
      assert.deepEqual(planted.cycles(), [
        ['src/cli/main.ts', 'src/lazy.ts', 'src/cli/main.ts'],
        ['src/self.ts', 'src/self.ts'],
      ]);
    } finally {
      fs.rmSync(planted.dir, { recursive: true, force: true });
    }
  });

  it('reads every kind of import and nothing else', () => {
    const text = [
      "import a from './a';",
      "import type { B } from './b';",
      "export { c } from './c';",
      "export type { D } from './d';",
      "type E = import('./e').E;",
      "const f = () => import('./f');",
      "import g = require('./g');",
      "// import h from './h';",
      "const i = \"import j from './j'\";",
    ].join('\n');
    assert.deepEqual(importsOf('x.ts', text), ['./a', './b', './c', './d', './e', './f', './g']);
  });
});
