// Types of bin/build-stamp.js (plain JavaScript: it runs before anything is compiled), for the tests.
export declare const SOURCE_DIRS: string[];
export declare const DIST_DIR: string;
export declare const STAMP_FILE: string;
export declare function listSources(root: string): string[];
export declare function stampOf(root: string, sources: string[]): Record<string, [number, number]>;
export declare function isBuildFresh(root: string): boolean;
export declare function cliEntry(root: string, env: Record<string, string | undefined>): { compiled: boolean; file: string };
