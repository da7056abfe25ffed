/**
 * Runs inside a worker thread of the loader fuzzer: writes one case's
 * project directory and loads it with the function the CLI calls
 * (`loadStack`, with -f files and no project directory, as
 * `dockflow deploy -f ...` does). In a thread so that the runner can stop a
 * case that hangs or runs away with memory, and keep going.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { ComposeError, loadStack } from '../../src/compose';
import type { ComposeCase } from './compose-cases';

export type LoaderOutcome =
  | { kind: 'ok'; project: string; services: number; warnings: number; ms: number }
  | { kind: 'compose-error'; message: string; reason: string; file?: string; path?: string; line?: number; ms: number }
  | { kind: 'crash'; name: string; message: string; stack: string; ms: number };

/** Write the case under `root` (a fresh directory); returns the compose files' absolute paths. */
export function writeCase(root: string, c: ComposeCase): { dir: string; files: string[] } {
  // The directory name is a valid project name, so a case that drops `name:` still has one.
  const dir = path.join(root, `fuzzload${c.index}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(c.support)) fs.writeFileSync(path.join(dir, name), text);
  const files = c.files.map((f) => {
    const file = path.join(dir, f.name);
    fs.writeFileSync(file, f.text);
    return file;
  });
  return { dir, files };
}

export function runLoaderCase(root: string, c: ComposeCase): LoaderOutcome {
  const { files } = writeCase(root, c);
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const { spec, warnings } = loadStack({ files, environment: c.environment, ...(c.profiles ? { profiles: c.profiles } : {}) });
    return { kind: 'ok', project: spec.project, services: Object.keys(spec.services).length, warnings: warnings.length, ms: ms() };
  } catch (err) {
    if (err instanceof ComposeError) {
      return { kind: 'compose-error', message: err.message, reason: err.reason, file: err.file, path: err.path, line: err.line, ms: ms() };
    }
    const e = err instanceof Error ? err : new Error(String(err));
    return { kind: 'crash', name: e.name, message: e.message.slice(0, 2000), stack: (e.stack ?? '').split('\n').slice(0, 12).join('\n'), ms: ms() };
  }
}

if (parentPort) {
  parentPort.on('message', (message: { root: string; case: ComposeCase }) => {
    parentPort!.postMessage(runLoaderCase(message.root, message.case));
  });
  // The loader's modules are loaded (and compiled) by now: the runner starts the clock from here.
  parentPort.postMessage('ready');
}
