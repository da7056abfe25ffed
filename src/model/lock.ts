/**
 * Who holds a project's lock (workflows/lock.ts): what the lock workflow
 * answers to its "holder" query, and what activities and the CLI report.
 */
export interface LockHolder {
  project: string;
  operation: string;
  workflowId: string;
  /** ISO time the holder started. */
  since: string;
}
