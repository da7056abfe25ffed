/**
 * Parse phase: one compose file's YAML into a plain tree.
 *
 * YAML 1.2 core schema (so `no` stays a string, as `restart: no` needs), with
 * `<<` merge keys, which compose files use with `x-*` anchors. Syntax errors
 * and duplicate keys are fatal and name the file and line. Besides the tree,
 * the phase records the line of every key (for later errors) and the keys
 * tagged `!reset` or `!override`, which only mean something to the merge.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { ComposeError } from './errors';
import { pathKey, type Path } from './paths';

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

export function parseComposeText(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, merge: true, prettyErrors: true, lineCounter, strict: true });
  if (document.errors.length > 0) {
    const error = document.errors[0];
    const at = error.linePos?.[0];
    const reason = error.code === 'DUPLICATE_KEY' ? duplicateKeyReason(text, error.pos[0]) : error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ComposeError(`invalid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${reason}`, file, undefined, at?.line);
  }

  const lines = new Map<string, number>();
  const resets: Path[] = [];
  const overrides: Path[] = [];
  const lineOf = (node: { range?: [number, number, number] | null }) => (node.range ? lineCounter.linePos(node.range[0]).line : undefined);
  const walk = (node: unknown, path: Path): void => {
    if (isAlias(node)) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) throw new ComposeError('invalid YAML: keys must be plain scalars', file, undefined, lineOf(pair.key as Node));
        const key = String(pair.key.value);
        // Merge keys fold another mapping in: its keys are not this file's keys at this path.
        if (key === '<<') continue;
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
  };
  walk(document.contents, []);

  const unknownTag = document.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED' && ![...MERGE_TAGS].some((t) => w.message.includes(`tag: ${t} `)));
  if (unknownTag) {
    const at = unknownTag.linePos?.[0];
    const tag = /tag: (\S+)/.exec(unknownTag.message)?.[1] ?? '';
    throw new ComposeError(`unknown YAML tag ${tag}${at ? ` at line ${at.line}` : ''}: only !reset and !override are supported`, file, undefined, at?.line);
  }

  // Compose files are small and anchors are reused a handful of times; the cap stops alias bombs.
  const value: unknown = document.toJS({ maxAliasCount: 10_000 });
  if (value === null || value === undefined) return { file, doc: {}, lines, resets, overrides };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ComposeError('the top level must be a mapping (services:, networks:, volumes:, ...)', file, undefined, 1);
  }
  const doc = value as Record<string, unknown>;
  for (const path of resets) removeAt(doc, path);
  return { file, doc, lines, resets, overrides };
}

function duplicateKeyReason(text: string, offset: number): string {
  const key = /^\s*["']?([^"':\n]+)/.exec(text.slice(offset))?.[1]?.trim();
  return key ? `mapping key "${key}" is defined twice` : 'a mapping key is defined twice';
}

function removeAt(doc: Record<string, unknown>, path: Path): void {
  let node: unknown = doc;
  for (const part of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string | number, unknown>)[part];
  }
  if (node !== null && typeof node === 'object') delete (node as Record<string | number, unknown>)[path[path.length - 1]];
}
