/** A problem in the user's compose files, always naming the file and the key path. */
export class ComposeError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly path?: string,
  ) {
    super([file, path, message].filter(Boolean).join(': '));
    this.name = 'ComposeError';
  }
}
