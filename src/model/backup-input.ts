/**
 * Inputs of the backup, backups (list), restore and migrate workflows: one
 * JSON object each, so the Temporal UI's Start Workflow form and Schedules
 * can start them. Validated with zod inside the workflow; a bad input fails
 * at once, non-retryable, naming the path, before anything is touched.
 * Project names become directory names in the destination and the ledger:
 * ProjectName (compose's rule) keeps them from being paths.
 */
import { z } from 'zod';
import { StackSpec } from './spec';
import { StackName } from './input';
import { ProjectName } from './names';
import { BACKUP_ID_PATTERN, BackupReason } from './backup-ids';
import { destinationProblem } from './s3-url';
import { HostInfo } from './hosts';

/**
 * Where the stack's definition comes from. Default (neither given): the
 * project's current revision in the worker host's ledger, i.e. what dockflow
 * last deployed.
 */
const StackSource = {
  /** A project folder in the worker's DOCKFLOW_STACKS_DIR. */
  stack: StackName.optional(),
  /** A resolved stack (what the CLI sends with -f). */
  spec: StackSpec.optional(),
  /** Compose files on the worker's host, in -f order. */
  composeFiles: z.array(z.string().min(1)).min(1).optional(),
  profiles: z.array(z.string()).optional(),
  envFiles: z.array(z.string()).optional(),
  projectDirectory: z.string().optional(),
};

const Destination = {
  /**
   * An absolute directory on the worker's host (or file:// URL), or
   * s3://bucket/prefix (endpoint and credentials from the worker's
   * environment, never from here). Default: DOCKFLOW_BACKUP_DIR, else <state dir>/backups.
   */
  destination: z
    .string()
    .min(1)
    .superRefine((d, ctx) => {
      const problem = destinationProblem(d);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
};

const Retention = {
  /** Keep the N newest backups of the project, delete older ones. Default: keep all. */
  keepLast: z.number().int().min(1).optional(),
  /** For each of the N latest days / ISO weeks / months (UTC) that have backups, keep that period's newest (restic's meaning). */
  keepDaily: z.number().int().min(1).optional(),
  keepWeekly: z.number().int().min(1).optional(),
  keepMonthly: z.number().int().min(1).optional(),
  /** Keep backups younger than this many days. Default: keep all. */
  keepDays: z.number().positive().optional(),
};

/**
 * The registered Docker hosts (what the CLI sends when there are any): the
 * operation acts on each data set on the host that runs its services.
 * Absent: this workflow's own host, as always.
 */
const Hosts = {
  hosts: z.array(HostInfo).min(1).optional(),
  /** With hosts: how long a host's worker may leave one of its steps untaken before the host counts as silent. Default 60. */
  hostSilenceSeconds: z.number().int().positive().optional(),
};

const oneSource = (v: { spec?: unknown; composeFiles?: unknown; stack?: unknown }) => [v.spec, v.composeFiles, v.stack].filter((x) => x !== undefined).length <= 1;
const sourceMessage = { message: 'give at most one of "stack", "composeFiles" or "spec" (none: the ledger\'s current revision)' };
const sameProject = (v: { project: string; spec?: { project: string } }) => v.spec === undefined || v.spec.project === v.project;
const sameProjectMessage = { message: '"spec.project" differs from "project"', path: ['spec', 'project'] };

export const BackupInput = z
  .strictObject({
    project: ProjectName,
    ...StackSource,
    /** Data sets to archive: volume keys, Docker volume names or bind paths. Default: see docs/backups.md. */
    volumes: z.array(z.string().min(1)).default([]),
    /** Archive the data of these services. */
    services: z.array(z.string().min(1)).default([]),
    ...Destination,
    ...Retention,
    /**
     * Encrypt every archive with the worker's key (DOCKFLOW_ENCRYPTION_KEY(_FILE)):
     * AES-256-GCM in authenticated chunks (src/backup/archive-crypto.ts). Default false.
     */
    encrypt: z.boolean().default(false),
    /** Print the plan (per host: the data sets, the containers stopped and started again, the destination) and change nothing. Default false. */
    dryRun: z.boolean().default(false),
    /**
     * Look the registered hosts up when the backup runs (Schedules send true): a schedule then
     * backs up every host's data sets, on the hosts registered at each run. Ignored when "hosts" is given.
     */
    lookUpHosts: z.boolean().optional(),
    /** Why the backup is taken; Schedules send "scheduled". Default "manual". */
    reason: BackupReason.default('manual'),
    /** When another operation holds the project, wait for it instead of failing. Default false (Schedules send true). */
    waitForLock: z.boolean().default(false),
    ...Hosts,
  })
  .refine(oneSource, sourceMessage)
  .refine(sameProject, sameProjectMessage);
export type BackupInput = z.input<typeof BackupInput>;
export type BackupOptions = z.output<typeof BackupInput>;

export const ListBackupsInput = z.strictObject({ project: ProjectName, ...Destination });
export type ListBackupsInput = z.input<typeof ListBackupsInput>;

export const RestoreInput = z
  .strictObject({
    project: ProjectName,
    backupId: z.string().regex(BACKUP_ID_PATTERN, 'a backup ID such as 20261122-030000-1a2b3c4d (see dockflow backups)'),
    /** Data sets to restore (key, Docker volume name, bind path or archive file). Default: all in the backup. */
    volumes: z.array(z.string().min(1)).default([]),
    /** The stack whose data sets the backup's manifest is checked against (default: the ledger's current revision). */
    ...StackSource,
    ...Destination,
    /** Upper bound for each health wait after the services start again, in seconds. Default 120. */
    healthTimeoutSeconds: z.number().positive().optional(),
    waitForLock: z.boolean().default(false),
    /** Print the plan (per host: the data sets, the containers stopped and started again, the destination) and change nothing. Default false. */
    dryRun: z.boolean().default(false),
    ...Hosts,
  })
  .refine(oneSource, sourceMessage)
  .refine(sameProject, sameProjectMessage);
export type RestoreInput = z.input<typeof RestoreInput>;
export type RestoreOptions = z.output<typeof RestoreInput>;

export const MigrateInput = z
  .strictObject({
    project: ProjectName,
    service: z.string().min(1),
    /** The migration, run once in a one-off container of the service (argv, no shell). */
    command: z.array(z.string()).min(1),
    /** Run first in its own one-off container; its output is shown; a non-zero exit stops before the migration. */
    dryRunCommand: z.array(z.string()).min(1).optional(),
    /** Data sets to back up first. Default: the service's own data. */
    backupVolumes: z.array(z.string().min(1)).default([]),
    /** Restart the service's containers after a successful migration. Default false. */
    restart: z.boolean().default(false),
    /** Stop the migration (and restore the backup) after this many seconds. Default: no limit. */
    timeoutSeconds: z.number().positive().optional(),
    ...StackSource,
    ...Destination,
    ...Retention,
    healthTimeoutSeconds: z.number().positive().optional(),
    waitForLock: z.boolean().default(false),
    ...Hosts,
  })
  .refine(oneSource, sourceMessage)
  .refine(sameProject, sameProjectMessage);
export type MigrateInput = z.input<typeof MigrateInput>;
export type MigrateOptions = z.output<typeof MigrateInput>;
