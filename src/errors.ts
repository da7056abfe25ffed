/**
 * Failure types that must not be retried: retrying cannot fix them, and the
 * user has to change something first. Activities throw them as
 * ApplicationFailure.nonRetryable(message, type); workflows and the CLI read
 * the type to tell the user what went wrong.
 */
export const ErrorType = {
  /** The compose files or the workflow input are invalid. */
  invalidSpec: 'InvalidSpec',
  /** An external network or volume the stack needs does not exist. */
  missingExternal: 'MissingExternalResource',
  /** The image is not on the host and cannot be built or pulled. */
  imageUnavailable: 'ImageUnavailable',
  /** A host port the service publishes is taken by something else. */
  portAllocated: 'PortAllocated',
  /** A container never became healthy, or exited while it should run. */
  unhealthy: 'ServiceUnhealthy',
  /** A one-shot dependency exited with a non-zero code. */
  jobFailed: 'OneShotFailed',
  /** Docker refused the container's configuration. */
  dockerRejected: 'DockerRejected',
  /** A backup ID that is not in the destination. */
  backupNotFound: 'BackupNotFound',
  /** An archive whose checksum or size differs from its manifest. */
  backupCorrupt: 'BackupCorrupt',
  /** A data set cannot be read or written as asked (missing volume or directory, no usable helper image, bad destination). */
  dataUnavailable: 'DataUnavailable',
  /** A backup hook failed and its on_error is abort. */
  hookFailed: 'BackupHookFailed',
  /** A migration exited non-zero or timed out (its backup was restored). */
  migrationFailed: 'MigrationFailed',
  /** After an operation, the host does not hold what it would record (replicas, image IDs, config hashes). */
  hostMismatch: 'HostMismatch',
  /** The stack asks for more than the worker's policy allows (or the policy file is unusable). */
  policyRefused: 'PolicyRefused',
  /** A container name, network or volume the stack needs belongs to another project or to none. */
  notOwned: 'ResourceNotOwned',
} as const;

export const NON_RETRYABLE_TYPES = Object.values(ErrorType);
