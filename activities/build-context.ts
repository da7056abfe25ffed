/**
 * The build context of a `build:` section as Docker's own client sends it:
 * every file under the context directory except what `.dockerignore`
 * excludes, with the Dockerfile and `.dockerignore` always sent.
 *
 * Pattern rules are Docker's (comments, `*`, `?`, `**`, `!` exceptions where
 * the last matching line wins, a leading `/` meaning the context's root, a
 * pattern that names a directory excluding everything under it); the matching
 * itself is @balena/dockerignore, a port of Docker's matcher. A
 * `<Dockerfile>.dockerignore` next to the Dockerfile replaces `.dockerignore`,
 * as in BuildKit (compose's default builder).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import dockerignore from '@balena/dockerignore';
import { pack } from 'tar-fs';

/** Whether a path (relative to the context, `/`-separated) is left out of the context. */
export interface ContextFilter {
  excludes(relativePath: string): boolean;
  /**
   * Whether an excluded directory may still hold a path an exception (`!`)
   * brings back, so the walk must enter it. Conservative: true whenever an
   * exception's fixed prefix (before its first wildcard) and the directory
   * could meet.
   */
  mayIncludeUnder(relativeDir: string): boolean;
}

/** `/`-separated, no leading `/` or `./`: the form patterns and paths are compared in. */
function normalizePattern(pattern: string): string {
  const clean = path.posix.normalize(pattern.replace(/\\/g, '/'));
  return clean.replace(/^\/+/, '').replace(/^\.\//, '').replace(/\/+$/, '');
}

/**
 * The filter for one context from its ignore file's text (undefined: no
 * ignore file) and the Dockerfile's path relative to the context.
 */
export function contextFilter(ignoreText: string | undefined, dockerfile: string): ContextFilter {
  const lines = (ignoreText ?? '').replace(/^\uFEFF/, '').split(/\r?\n/);
  const exceptions: string[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const trimmed = line.trim();
    if (trimmed.startsWith('!')) exceptions.push(normalizePattern(trimmed.slice(1).trim()));
  }
  // Docker's client appends these two exceptions: the builder needs both whatever the file says.
  const alwaysSent = [normalizePattern(dockerfile), '.dockerignore'];
  exceptions.push(...alwaysSent);
  const matcher = dockerignore({ ignorecase: false }).add([...lines, ...alwaysSent.map((p) => `!${p}`)]);
  return {
    excludes: (relativePath) => matcher.ignores(relativePath),
    mayIncludeUnder: (relativeDir) => {
      const dir = `${relativeDir}/`;
      return exceptions.some((pattern) => {
        const fixed = pattern.slice(0, pattern.search(/[*?[\\]|$/));
        return fixed.startsWith(dir) || dir.startsWith(fixed);
      });
    },
  };
}

/** The ignore file that applies: `<Dockerfile>.dockerignore` when present, else the context's `.dockerignore`. */
export function readIgnoreFile(contextDir: string, dockerfile: string): string | undefined {
  for (const candidate of [path.join(contextDir, `${dockerfile}.dockerignore`), path.join(contextDir, '.dockerignore')]) {
    try {
      return fs.readFileSync(candidate, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

/**
 * Every path the context sends, relative and `/`-separated, parents before
 * children, sorted. An excluded directory is not sent itself; it is walked
 * only when an exception may bring something under it back (the files an
 * exception matches then arrive without their directory's own entry, as
 * with Docker). Symbolic links are sent as links, never followed.
 */
export function contextEntries(contextDir: string, dockerfile: string): string[] {
  const filter = contextFilter(readIgnoreFile(contextDir, dockerfile), dockerfile);
  const entries: string[] = [];
  const walk = (relativeDir: string): void => {
    const dirents = fs.readdirSync(path.join(contextDir, relativeDir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const dirent of dirents) {
      const relative = relativeDir ? `${relativeDir}/${dirent.name}` : dirent.name;
      const excluded = filter.excludes(relative);
      if (dirent.isDirectory()) {
        if (!excluded) entries.push(relative);
        if (!excluded || filter.mayIncludeUnder(relative)) walk(relative);
      } else if (!excluded) {
        entries.push(relative);
      }
    }
  };
  walk('');
  return entries;
}

/**
 * The context as an uncompressed tar stream for POST /build. Owners are
 * written as root (0:0), as Docker's client does, so the image does not
 * depend on who owns the files on the worker's host.
 */
export function packBuildContext(contextDir: string, dockerfile: string): NodeJS.ReadableStream {
  const entries = contextEntries(contextDir, dockerfile);
  return pack(contextDir, {
    entries,
    // tar-fs recurses into every directory entry; the list above already holds each child that is sent.
    ignore: () => true,
    map: (header) => ({ ...header, uid: 0, gid: 0 }),
  });
}
