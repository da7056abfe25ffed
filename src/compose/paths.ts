/**
 * Key paths into compose documents, and the provenance of every value of a
 * merged document: which file (and which key of that file, hence which line)
 * it came from. Errors found after the merge use it to name the right file.
 *
 * Paths are arrays, never dotted strings, because keys may contain dots
 * (labels such as `com.example.tier`).
 */
import { ComposeError } from './errors';

export type PathPart = string | number;
export type Path = readonly PathPart[];

/** `services.web.ports[0]`: keys joined with dots, sequence indexes in brackets. */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/** Map key of a path; a number and a numeric string key stay distinct. */
export function pathKey(path: Path): string {
  return path.map((p) => (typeof p === 'number' ? `#${p}` : `.${p}`)).join('\u0000');
}

interface Origin {
  file: string;
  /** The path of the value in `file`, which differs from the merged path once sequences were appended. */
  source: Path;
}

/**
 * Where each value of a (merged) document came from. An entry on a path
 * covers the whole subtree below it unless a deeper entry says otherwise, so
 * a value taken whole from one file needs one entry.
 */
export class Provenance {
  private readonly origins = new Map<string, Origin[]>();

  constructor(
    /** Per file, the line of every key path of that file (from the parse phase). */
    private readonly lines: ReadonlyMap<string, ReadonlyMap<string, number>> = new Map(),
  ) {}

  /** A document that is one file. */
  static ofFile(file: string, lines?: ReadonlyMap<string, number>): Provenance {
    const provenance = new Provenance(new Map(lines ? [[file, lines]] : []));
    provenance.claim([], file);
    return provenance;
  }

  /** The value at `path` now comes whole from `file` (at `source` there): forget what was below. */
  claim(path: Path, file: string, source: Path = path): void {
    this.forget(path);
    this.origins.set(pathKey(path), [{ file, source }]);
  }

  /**
   * `file` merges into the existing value at `path`. The children that exist
   * already are pinned to their current origin first, so that they do not
   * appear to come from `file` too.
   */
  share(path: Path, file: string, existingChildren: readonly PathPart[]): void {
    for (const child of existingChildren) {
      const childPath = [...path, child];
      if (!this.origins.has(pathKey(childPath))) this.origins.set(pathKey(childPath), this.resolve(childPath));
    }
    const own = this.resolve(path);
    if (!own.some((o) => o.file === file)) own.push({ file, source: path });
    this.origins.set(pathKey(path), own);
  }

  /** The value at `path` and everything below it is gone (`!reset`). */
  forget(path: Path): void {
    const key = pathKey(path);
    this.origins.delete(key);
    for (const k of [...this.origins.keys()]) if (k.startsWith(`${key}\u0000`)) this.origins.delete(k);
  }

  /** Origins of the value at `path`, from the deepest entry at or above it. */
  resolve(path: Path): Origin[] {
    for (let n = path.length; n >= 0; n--) {
      const found = this.origins.get(pathKey(path.slice(0, n)));
      if (found) return found.map((o) => ({ file: o.file, source: [...o.source, ...path.slice(n)] }));
    }
    return [];
  }

  /** Display of the file(s) that hold `path`, and the line when one file does. */
  locate(path: Path): { file: string | undefined; line: number | undefined } {
    const origins = this.resolve(path);
    const files = [...new Set(origins.map((o) => o.file))];
    if (files.length !== 1) return { file: files.length ? files.join(', ') : undefined, line: undefined };
    return { file: files[0], line: this.lineOf(files[0], origins[0].source) };
  }

  private lineOf(file: string, source: Path): number | undefined {
    const lines = this.lines.get(file);
    if (!lines) return undefined;
    for (let n = source.length; n > 0; n--) {
      const line = lines.get(pathKey(source.slice(0, n)));
      if (line !== undefined) return line;
    }
    return undefined;
  }

  /** A ComposeError about the value at `path`, naming the file it came from. */
  error(path: Path, reason: string): ComposeError {
    const { file, line } = this.locate(path);
    return new ComposeError(reason, file, formatPath(path) || undefined, line);
  }
}
