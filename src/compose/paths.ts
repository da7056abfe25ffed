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

/** One path part as pathKey spells it: a number and a numeric string key stay distinct. */
const partKey = (part: PathPart) => (typeof part === 'number' ? `#${part}` : `.${part}`);

interface ProvenanceNode {
  origins?: Origin[];
  children: Map<string, ProvenanceNode>;
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
  /**
   * Origins as a tree of path parts, so forgetting a subtree (every claim
   * does) is one delete, not a scan of every entry: a flat map made merging
   * a mapping of n keys take n² steps.
   */
  private readonly root: ProvenanceNode = { children: new Map() };

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

  private node(path: Path): ProvenanceNode {
    let node = this.root;
    for (const part of path) {
      const key = partKey(part);
      let child = node.children.get(key);
      if (!child) {
        child = { children: new Map() };
        node.children.set(key, child);
      }
      node = child;
    }
    return node;
  }

  /** The value at `path` now comes whole from `file` (at `source` there): forget what was below. */
  claim(path: Path, file: string, source: Path = path): void {
    this.forget(path);
    this.node(path).origins = [{ file, source }];
  }

  /**
   * `file` merges into the existing value at `path`. The children that exist
   * already are pinned to their current origin first, so that they do not
   * appear to come from `file` too.
   */
  share(path: Path, file: string, existingChildren: readonly PathPart[]): void {
    for (const child of existingChildren) {
      const childPath = [...path, child];
      const node = this.node(childPath);
      if (!node.origins) node.origins = this.resolve(childPath);
    }
    const own = this.resolve(path);
    if (!own.some((o) => o.file === file)) own.push({ file, source: path });
    this.node(path).origins = own;
  }

  /** The value at `path` and everything below it is gone (`!reset`). */
  forget(path: Path): void {
    if (path.length === 0) {
      this.root.children.clear();
      delete this.root.origins;
      return;
    }
    let node: ProvenanceNode | undefined = this.root;
    for (const part of path.slice(0, -1)) {
      node = node.children.get(partKey(part));
      if (!node) return;
    }
    node.children.delete(partKey(path[path.length - 1]));
  }

  /** Origins of the value at `path`, from the deepest entry at or above it. */
  resolve(path: Path): Origin[] {
    let node: ProvenanceNode | undefined = this.root;
    let found = this.root.origins ? { origins: this.root.origins, depth: 0 } : undefined;
    for (let i = 0; i < path.length; i++) {
      node = node.children.get(partKey(path[i]));
      if (!node) break;
      if (node.origins) found = { origins: node.origins, depth: i + 1 };
    }
    if (!found) return [];
    const rest = path.slice(found.depth);
    return found.origins.map((o) => ({ file: o.file, source: [...o.source, ...rest] }));
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
