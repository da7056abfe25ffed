/**
 * The workflow bundle's entry point: every workflow type the worker registers.
 *
 * Each type's module is loaded when a workflow of that type first runs, not
 * with this list. The SDK's reusable V8 context keeps module state per
 * workflow: it evaluates the modules a workflow execution loads once for
 * that execution and keeps them as long as the workflow is cached. With
 * plain re-exports every execution loaded every workflow module, zod and the
 * model, about 3 MiB each: a project lock (one beside every running
 * operation) as much as a deploy (bench/RESULTS.md, Scale). The wrappers
 * call the workflow function at once, with its arguments, and return its
 * promise: the same commands in the same order (the replay tests prove it).
 * The wrappers' names are the workflow types (a const's name is its own).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
import type * as Deploy from './deploy';
import type * as Down from './down';
import type * as Update from './update';
import type * as Rollback from './rollback';
import type * as ProjectLock from './project-lock';
import type * as Backup from './backup';
import type * as Restore from './restore';
import type * as Migrate from './migrate';
import type * as Notify from './notify';
import type * as HostRegistry from './host-registry';
import type * as HostStatus from './host-status';

export const deploy: typeof Deploy.deploy = (...args) => (require('./deploy') as typeof Deploy).deploy(...args);
export const down: typeof Down.down = (...args) => (require('./down') as typeof Down).down(...args);
export const update: typeof Update.update = (...args) => (require('./update') as typeof Update).update(...args);
export const rollback: typeof Rollback.rollback = (...args) => (require('./rollback') as typeof Rollback).rollback(...args);
export const history: typeof Rollback.history = (...args) => (require('./rollback') as typeof Rollback).history(...args);
export const projectLock: typeof ProjectLock.projectLock = (...args) => (require('./project-lock') as typeof ProjectLock).projectLock(...args);
export const backup: typeof Backup.backup = (...args) => (require('./backup') as typeof Backup).backup(...args);
export const backups: typeof Backup.backups = (...args) => (require('./backup') as typeof Backup).backups(...args);
export const restore: typeof Restore.restore = (...args) => (require('./restore') as typeof Restore).restore(...args);
export const migrate: typeof Migrate.migrate = (...args) => (require('./migrate') as typeof Migrate).migrate(...args);
export const notifyOperation: typeof Notify.notifyOperation = (...args) => (require('./notify') as typeof Notify).notifyOperation(...args);
export const hostRegistration: typeof HostRegistry.hostRegistration = (...args) => (require('./host-registry') as typeof HostRegistry).hostRegistration(...args);
export const describeHosts: typeof HostRegistry.describeHosts = (...args) => (require('./host-registry') as typeof HostRegistry).describeHosts(...args);
export const stackHosts: typeof HostStatus.stackHosts = (...args) => (require('./host-status') as typeof HostStatus).stackHosts(...args);
