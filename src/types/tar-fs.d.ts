/** The part of tar-fs (a dependency without bundled types) dockflow uses. */
declare module 'tar-fs' {
  export interface TarHeader {
    name: string;
    mode: number;
    mtime: Date;
    size: number;
    type: string;
    uid: number;
    gid: number;
    linkname?: string;
  }
  export interface PackOptions {
    /** Paths relative to cwd to pack, in order; a directory is recursed into, subject to ignore. */
    entries?: string[];
    /** Called with the absolute path of each child found while recursing; true leaves it out. */
    ignore?: (name: string) => boolean;
    map?: (header: TarHeader) => TarHeader;
  }
  export function pack(cwd: string, options?: PackOptions): NodeJS.ReadableStream;
}
