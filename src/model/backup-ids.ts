/**
 * The two backup facts that workflow inputs validate against: what a backup
 * ID looks like and why a backup was taken. src/backup builds on them (IDs,
 * manifests); they live here so that src/model imports nothing above it.
 */
import { z } from 'zod';

/** Backup IDs sort by time: `20261122-030000-1a2b3c4d`. */
export const BACKUP_ID_PATTERN = /^\d{8}-\d{6}-[0-9a-f]{8}$/;

/** `rollback`: the copy of the current data a rollback with data takes before it replaces it. */
export const BackupReason = z.enum(['manual', 'scheduled', 'migrate', 'rollback']);
export type BackupReason = z.infer<typeof BackupReason>;
