/**
 * Workflow inputs: one JSON object each, so the Temporal UI's Start Workflow
 * form can start any operation. Validated with zod inside the workflow; a bad
 * input fails at once, non-retryable, with the path and the problem.
 */
import { z } from 'zod';
import { StackSpec } from './spec';
import { impossibleSpecProblems } from './feasibility';
import { ProjectName } from './names';
import { destinationProblem } from './s3-url';
import { HostInfo, HostName } from './hosts';

/** A folder name in the worker's DOCKFLOW_STACKS_DIR (checked again, with the folder's existence, on the worker). */
export const STACK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const StackName = z.string().regex(STACK_NAME_PATTERN, 'a folder name in the worker\'s DOCKFLOW_STACKS_DIR (letters, digits, ".", "_", "-"), not a path');

const ComposeReference = {
  /** A project folder in the worker's DOCKFLOW_STACKS_DIR (compose file + .env): what the Temporal UI sends. */
  stack: StackName.optional(),
  /** Project name (`-p`); default: `name:` in the compose file, else the directory name. */
  project: ProjectName.optional(),
  /** Compose files on the worker's host, in `-f` order. */
  composeFiles: z.array(z.string().min(1)).min(1).optional(),
  profiles: z.array(z.string()).optional(),
  envFiles: z.array(z.string()).optional(),
  /** `--project-directory`; default: the first compose file's directory. */
  projectDirectory: z.string().optional(),
};

export const DeployInput = z
  .strictObject({
    /** A resolved stack (what the CLI sends). */
    spec: StackSpec.optional(),
    ...ComposeReference,
    /** Remove containers of services that are no longer in the compose files. Default false. */
    removeOrphans: z.boolean().default(false),
    /** Rebuild images that have a `build:` section even when they exist. Default false. */
    build: z.boolean().default(false),
    /** Compute and return the plan without changing anything. Default false. */
    dryRun: z.boolean().default(false),
    /** Wait for every service with a healthcheck to be healthy before succeeding (compose `--wait`). Default true. */
    wait: z.boolean().default(true),
    /** Upper bound for one health or completion wait, in seconds; default derived from the healthcheck. */
    healthTimeoutSeconds: z.number().positive().optional(),
    /** When another operation holds the project, wait for it instead of failing. Default false. */
    waitForLock: z.boolean().default(false),
    /** Recreated containers get fresh anonymous volumes, and the old ones are removed (compose's -V/--renew-anon-volumes). Default false: they are carried over. */
    renewAnonVolumes: z.boolean().default(false),
    /**
     * The Docker hosts to place the stack on, each with its worker's labels
     * (what `dockflow deploy` sends when hosts are registered). Absent: the
     * single host this workflow's own task queue reaches, as always.
     */
    hosts: z.array(HostInfo).min(1).optional(),
    /** With hosts: where services without placement constraints run (`--host`); default the only host. */
    host: HostName.optional(),
    /** With hosts: how long a host's worker may leave one of its steps untaken before the host counts as failed. Default 60. */
    hostSilenceSeconds: z.number().int().positive().optional(),
  })
  .refine((v) => v.host === undefined || v.hosts?.some((h) => h.name === v.host), { message: '"host" must be one of "hosts"', path: ['host'] })
  .refine((v) => [v.spec, v.composeFiles, v.stack].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of "stack" (a folder in the worker\'s DOCKFLOW_STACKS_DIR), "composeFiles" (compose files on the worker host) or "spec" (a resolved stack)',
  })
  .superRefine((v, ctx) => {
    // The loader refuses these with file and key; an inline spec did not necessarily come through it.
    if (!v.spec) return;
    for (const problem of impossibleSpecProblems(v.spec)) ctx.addIssue({ code: 'custom', path: ['spec', ...problem.path], message: problem.message });
  });
export type DeployInput = z.input<typeof DeployInput>;
export type DeployOptions = z.output<typeof DeployInput>;

export const DownInput = z.strictObject({
  project: ProjectName,
  /** Also remove the project's named volumes and its containers' anonymous volumes (`down -v`). Default false. */
  volumes: z.boolean().default(false),
  waitForLock: z.boolean().default(false),
  /** The registered Docker hosts: the project is removed from every one. Absent: this workflow's own host. */
  hosts: z.array(HostInfo).min(1).optional(),
  hostSilenceSeconds: z.number().int().positive().optional(),
});
export type DownInput = z.input<typeof DownInput>;

/** "services.web.ports[0]: expected number" lines from a zod error. */
export function formatZodError(error: z.ZodError, prefix = 'input'): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        '',
      );
      return `${prefix}${path ? `.${path}` : ''}: ${issue.message}`;
    })
    .join('\n');
}

const Rollout = z.strictObject({
  parallelism: z.number().int().nonnegative().optional(),
  order: z.enum(['start-first', 'stop-first']).optional(),
  delayMs: z.number().int().nonnegative().optional(),
  monitorMs: z.number().int().nonnegative().optional(),
  maxFailureRatio: z.number().min(0).max(1).optional(),
  failureAction: z.enum(['rollback', 'pause', 'continue']).optional(),
  /** Fall back to stop-first for a service that publishes a fixed host port. Default false. */
  allowStopFirst: z.boolean().optional(),
});

export const UpdateInput = z.strictObject({
  project: ProjectName,
  service: z.string().min(1),
  /** New image reference for the service; must be on the host or pullable. */
  image: z.string().min(1).optional(),
  /** New replica count. */
  scale: z.number().int().nonnegative().optional(),
  /** Overrides of the service's deploy.update_config. */
  rollout: Rollout.optional(),
  healthTimeoutSeconds: z.number().positive().optional(),
  waitForLock: z.boolean().default(false),
  /** Recreated containers get fresh anonymous volumes, and the old ones are removed (compose's -V/--renew-anon-volumes). Default false: they are carried over. */
  renewAnonVolumes: z.boolean().default(false),
  /** The registered Docker hosts (what the CLI sends when there are any); absent: this workflow's own host. */
  hosts: z.array(HostInfo).min(1).optional(),
  hostSilenceSeconds: z.number().int().positive().optional(),
  /** Plan only: the graph of what the update would do, read without the lock; nothing changes. */
  dryRun: z.boolean().default(false),
});
export type UpdateInput = z.input<typeof UpdateInput>;

/** Where backups are, checked as backup-input.ts checks it (a directory on the worker's host, file:// or s3://). */
const BackupDestination = z
  .string()
  .min(1)
  .superRefine((d, ctx) => {
    const problem = destinationProblem(d);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const RollbackInput = z
  .strictObject({
    project: ProjectName,
    /** Revision to restore; default: the one before the current revision. */
    to: z.number().int().positive().optional(),
    healthTimeoutSeconds: z.number().positive().optional(),
    waitForLock: z.boolean().default(false),
    /** Recreated containers get fresh anonymous volumes, and the old ones are removed (compose's -V/--renew-anon-volumes). Default false: they are carried over. */
    renewAnonVolumes: z.boolean().default(false),
    /**
     * Also put back the data the revision ran on: the backup taken just before the operation that
     * followed it (src/backup/revision-backup.ts), after a backup of the current data. Default false.
     */
    withData: z.boolean().default(false),
    /** Where the backups are (as for restore). Default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups. Only with withData. */
    destination: BackupDestination.optional(),
    /** The registered Docker hosts (what the CLI sends when there are any); absent: this workflow's own host. */
    hosts: z.array(HostInfo).min(1).optional(),
    hostSilenceSeconds: z.number().int().positive().optional(),
  })
  .refine((v) => v.destination === undefined || v.withData, { message: '"destination" is only used with "withData": true', path: ['destination'] });
export type RollbackInput = z.input<typeof RollbackInput>;

export const HistoryInput = z.strictObject({
  project: ProjectName,
  /** Where to look for each revision's data backup. Default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups. */
  destination: BackupDestination.optional(),
  /** The registered Docker hosts (what the CLI sends when there are any): every host's ledger is read. Absent: this workflow's own host. */
  hosts: z.array(HostInfo).min(1).optional(),
  hostSilenceSeconds: z.number().int().positive().optional(),
});
export type HistoryInput = z.input<typeof HistoryInput>;
