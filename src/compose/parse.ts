/**
 * Parse phase: one compose file's YAML into a plain tree.
 *
 * YAML 1.2 core schema (so `no` stays a string, as `restart: no` needs), with
 * `<<` merge keys, which compose files use with `x-*` anchors. Syntax errors
 * and duplicate keys are fatal and name the file and line. Besides the tree,
 * the phase records the line of every key (for later errors) and the keys
 * tagged `!reset` or `!override`, which only mean something to the merge.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ComposeError } from './errors';
import { formatPath, pathKey, type Path } from './paths';

export interface ParsedFile {
  /** Display name used in messages. */
  file: string;
  /** The top-level mapping; `!reset` values are already taken out. */
  doc: Record<string, unknown>;
  /** Line of each key and sequence item, keyed by pathKey. */
  lines: Map<string, number>;
  /** Keys tagged `!reset`: the merge removes what earlier files set there. */
  resets: Path[];
  /** Keys tagged `!override`: the merge replaces instead of merging. */
  overrides: Path[];
}

const MERGE_TAGS = new Set(['!reset', '!override']);
const MAX_ALIAS_COUNT = 10_000;

/**
 * Flow collections (`[...]`, `{...}`) nested deeper than this are refused
 * before parsing: the YAML library's error recovery slows down with the
 * square of the depth (a 25 kB file of 5,000 levels took seconds), and no
 * compose file nests anywhere near it. Brackets inside quoted strings count
 * too; a real file never has hundreds unclosed.
 */
const MAX_FLOW_DEPTH = 256;
/**
 * Likewise block nesting: indentation (with the `- ` and `? ` that nest on
 * one line) wider than this many columns. The parser recurses once per level,
 * so without a bound a deep enough file overflows the stack at a depth that
 * depends on the process (CLI, worker) instead of failing the same way everywhere.
 */
const MAX_INDENT = 256;

function tooDeep(text: string): { at: number; what: string } | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x5b || ch === 0x7b) {
      if (++depth > MAX_FLOW_DEPTH) return { at: i, what: `collections nested more than ${MAX_FLOW_DEPTH} levels deep` };
    } else if ((ch === 0x5d || ch === 0x7d) && depth > 0) depth--;
  }
  const indent = /^(?:[ \t]|[-?][ \t])*/gm;
  for (let m = indent.exec(text); m; m = indent.exec(text)) {
    if (m[0].length > MAX_INDENT) return { at: m.index, what: `a line indented (nested) more than ${MAX_INDENT} columns` };
    if (m[0].length === 0) indent.lastIndex++;
  }
  return undefined;
}

export function parseComposeText(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const deep = tooDeep(text);
  if (deep) {
    const line = text.slice(0, deep.at).split('\n').length;
    throw new ComposeError(`invalid YAML at line ${line}: ${deep.what}`, file, undefined, line);
  }
  // Duplicate keys are found by the walk below: the library's own check compares every key of a
  // mapping with every other one, which makes a mapping of 20,000 keys take half a minute.
  const document = parseDocument(text, { uniqueKeys: false, merge: true, prettyErrors: true, lineCounter, strict: true });
  if (document.errors.length > 0) {
    const error = document.errors[0];
    const at = error.linePos?.[0];
    const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ComposeError(`invalid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${reason}`, file, undefined, at?.line);
  }

  const lines = new Map<string, number>();
  const resets: Path[] = [];
  const overrides: Path[] = [];
  const lineOf = (node: { range?: [number, number, number] | null }) => (node.range ? lineCounter.linePos(node.range[0]).line : undefined);
  /** Nodes the walk is inside of: an alias to one of them would make the tree infinite. */
  const ancestors = new Set<unknown>();
  const checkAlias = (alias: Node, path: Path, forMerge: boolean) => {
    if (!isAlias(alias)) return;
    const target = alias.resolve(document as Document);
    if (target && ancestors.has(target)) {
      throw new ComposeError(`invalid YAML: the alias *${alias.source} is inside the node it refers to (an endless tree)`, file, formatPath(path) || undefined, lineOf(alias));
    }
    const mergeable = (node: unknown) => isMap(isAlias(node) ? node.resolve(document as Document) : node);
    if (forMerge && target && !isMap(target) && !(isSeq(target) && target.items.every(mergeable))) throw new ComposeError(`invalid YAML: a << merge takes a mapping or a list of mappings, *${alias.source} is not one`, file, formatPath(path) || undefined, lineOf(alias));
  };
  const walk = (node: unknown, path: Path): void => {
    if (isAlias(node)) return checkAlias(node, path, false);
    if (!isMap(node) && !isSeq(node)) return;
    ancestors.add(node);
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) throw new ComposeError('invalid YAML: keys must be plain scalars', file, undefined, lineOf(pair.key as Node));
        // Merge keys fold another mapping in: its keys are not this file's keys at this path.
        // A plain `<<` parses as the merge tag's symbol; a quoted "<<" is an ordinary key.
        if (typeof pair.key.value === 'symbol') {
          const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const source of sources) {
            if (isAlias(source)) checkAlias(source as Node, path, true);
            else if (isMap(source)) walk(source, path);
            else throw new ComposeError('invalid YAML: a << merge takes a mapping or a list of mappings', file, formatPath(path) || undefined, lineOf((source ?? pair.key) as Node));
          }
          continue;
        }
        const key = String(pair.key.value);
        if (seen.has(key)) {
          const at = pair.key.range ? lineCounter.linePos(pair.key.range[0]) : undefined;
          throw new ComposeError(`invalid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: mapping key ${JSON.stringify(key)} is defined twice`, file, undefined, at?.line);
        }
        seen.add(key);
        const childPath = [...path, key];
        const line = lineOf(pair.key);
        if (line !== undefined) lines.set(pathKey(childPath), line);
        const value = pair.value as Node | null;
        const tag = value && 'tag' in value ? value.tag : undefined;
        if (tag === '!reset') resets.push(childPath);
        else if (tag === '!override') overrides.push(childPath);
        walk(value, childPath);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const line = item && typeof item === 'object' && 'range' in item ? lineOf(item as Node) : undefined;
        if (line !== undefined) lines.set(pathKey([...path, i]), line);
        walk(item, [...path, i]);
      });
    }
    ancestors.delete(node);
  };
  walk(document.contents, []);

  const unknownTag = document.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED' && ![...MERGE_TAGS].some((t) => w.message.includes(`tag: ${t} `)));
  if (unknownTag) {
    const at = unknownTag.linePos?.[0];
    const tag = /tag: (\S+)/.exec(unknownTag.message)?.[1] ?? '';
    throw new ComposeError(`unknown YAML tag ${tag}${at ? ` at line ${at.line}` : ''}: only !reset and !override are supported`, file, undefined, at?.line);
  }

  // Compose files are small and anchors are reused a handful of times; the cap stops alias bombs.
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The library throws plain errors (ReferenceError for the alias cap, RangeError for a tree too deep to convert).
    const reason = /alias count/i.test((err as Error).message)
      ? `invalid YAML: its aliases expand more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`
      : `invalid YAML: ${(err as Error).message}`;
    throw new ComposeError(reason, file);
  }
  if (value === null || value === undefined) return { file, doc: {}, lines, resets, overrides };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ComposeError('the top level must be a mapping (services:, networks:, volumes:, ...)', file, undefined, 1);
  }
  const doc = value as Record<string, unknown>;
  for (const path of resets) removeAt(doc, path);
  return { file, doc, lines, resets, overrides };
}

function removeAt(doc: Record<string, unknown>, path: Path): void {
  let node: unknown = doc;
  for (const part of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string | number, unknown>)[part];
  }
  if (node !== null && typeof node === 'object') delete (node as Record<string | number, unknown>)[path[path.length - 1]];
}
