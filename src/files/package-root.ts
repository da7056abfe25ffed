/**
 * The package's root folder (where package.json is), from a module that runs
 * either as TypeScript from the checkout (src/...) or compiled (dist/src/...):
 * files outside the compiled folders, such as examples/, are found from here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function packageRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
