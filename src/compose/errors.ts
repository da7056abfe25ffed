/**
 * A problem in the user's compose project. The message always starts with the
 * file (or files, when the offending value came out of a merge of several)
 * and the key path, so it can be printed as is:
 *
 *   docker-compose.yml: services.web.devices: not supported by dockflow
 */
export class ComposeError extends Error {
  constructor(
    /** The reason alone, without file and path. */
    readonly reason: string,
    /** Display name of the file: relative to the project directory when inside it. */
    readonly file?: string,
    /** Key path such as `services.web.ports[0]`. */
    readonly path?: string,
    /** 1-based line in `file` of the key, when it is known. */
    readonly line?: number,
  ) {
    super([file, path, reason].filter(Boolean).join(': '));
    this.name = 'ComposeError';
  }
}
