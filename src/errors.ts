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
  /** A deploy hook (pre_deploy, post_deploy) exited non-zero or ran past its timeout. */
  deployHookFailed: 'DeployHookFailed',
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

/**
 * How a whole operation failed, as its workflow reports it (never retried:
 * they end a workflow). The CLI and notifications read them.
 */
export const OperationFailure = {
  /** The operation failed and failure_action rollback put the previous revision back. */
  rolledBack: 'RolledBack',
  /** A rolling update's failures exceeded max_failure_ratio (failure_action pause or rollback). */
  rolloutFailed: 'RolloutFailed',
  /** Fallbacks when the cause carries no type of its own. */
  deployFailed: 'DeployFailed',
  rollbackFailed: 'RollbackFailed',
  backupFailed: 'BackupFailed',
  restoreFailed: 'RestoreFailed',
  /** Another operation holds the project's lock and the caller would not wait. */
  projectBusy: 'ProjectBusy',
  /** Across hosts: a host's worker took none of its steps within the bound (workflows/apply.ts HostSilent). */
  hostSilent: 'HostSilent',
} as const;

/** How a post_deploy hook's failure under failure_action continue starts in an operation's warnings (the CLI prints those). */
export const HOOK_CONTINUE_WARNING = 'failure_action continue: ';

/** Failures of one activity attempt that a retry can fix. */
export const RetryableFailure = {
  /** The Docker engine did not answer (restarting); the attempt failed once it answered again. */
  dockerUnreachable: 'DockerUnreachable',
  /** The worker running the attempt died; a worker of the same host took it back (workers/reclaim.ts). */
  workerLost: 'WorkerLost',
} as const;

/** Failure types of a delivery attempt (activities/notify.ts); README: Notifications; the delivery workflow retries only `failed`. */
export const NotificationFailure = {
  /** The receiver is down, slow, overloaded or answered 5xx/408/425/429; the command failed or timed out. */
  failed: 'NotificationFailed',
  /** The target answered 4xx (not 408/425/429) or redirected: its URL or secret is wrong, retrying cannot help. */
  rejected: 'NotificationRejected',
  /** This worker's DOCKFLOW_NOTIFY has no target with that ID (it changed since the event was resolved). */
  unknownTarget: 'NotificationTargetUnknown',
} as const;

/**
 * A failure and its causes, outermost first (Temporal wraps an activity's
 * failure in an ActivityFailure, a child's in a ChildWorkflowFailure, and so
 * on). Pure: workflows, the CLI and tests walk causes with these alone.
 */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && !chain.includes(current)) {
    chain.push(current);
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/** The innermost cause's message (the last non-empty one): what the user needs to read. */
export function rootMessage(err: unknown): string {
  const messages = causeChain(err).map((c) => (c instanceof Error ? c.message : String(c)));
  return messages.filter(Boolean).at(-1) ?? messages.at(-1) ?? String(err);
}

/** The first failure type in the chain (e.g. "InvalidSpec"), or undefined. */
export function firstFailureType(err: unknown): string | undefined {
  for (const c of causeChain(err)) {
    const type = typeof c === 'object' && c !== null ? (c as { type?: unknown }).type : undefined;
    if (typeof type === 'string' && type) return type;
  }
  return undefined;
}
