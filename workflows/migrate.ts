/**
 * migrate: run a data migration once, with a backup taken first and put back
 * if the migration fails.
 *
 *   backup of the service's data (or of the chosen data sets)
 *   → optional dry run in its own one-off container, output shown
 *   → the migration in a one-off container `<project>-<service>-run-<op>`
 *     (the service's image, environment, networks and volumes), output
 *     streamed into progress
 *   → exit 0: restart the service if asked, link migration and backup to the
 *     current revision in the ledger
 *   → otherwise (or timeout, or cancel): restore the backup, fail with the
 *     output's last lines
 *
 * Exactly once: the one-off container's name comes from the workflow ID, and
 * the activity that starts it never starts a container that already started.
 * A worker killed mid-migration is replaced by one that re-attaches to the
 * same container and waits for its exit.
 */
import { MigrateInput } from '../src/model/backup-input';
import { parseWorkflowInput } from './input';
import { trackOperation } from './progress';
import { LOCAL_DATA } from './data-route';
import { migrationSiteAcrossHosts } from './data-hosts';
import { acquireProjectLock } from './lock';
import { resolveStack } from './data-common';
import { runRestore } from './restore-run';
import { runMigration, type MigrateResult, type MigrationSite } from './migrate-run';

/** The migration's result type, imported from here by the CLI and the tests. */
export type { MigrateResult };

export async function migrate(rawInput: unknown): Promise<MigrateResult> {
  const { progress, input } = trackOperation('migrate', () => parseWorkflowInput(MigrateInput, rawInput, 'migrate'), (i) => i.project);
  const { project } = input;
  progress.project = project;
  await acquireProjectLock(project, 'migrate', input.waitForLock, progress);
  let site: MigrationSite;
  if (input.hosts) site = await migrationSiteAcrossHosts({ ...input, hosts: input.hosts }, progress);
  else {
    const { spec, revision } = await resolveStack(input, progress);
    site = {
      spec,
      revision,
      route: LOCAL_DATA,
      policySpec: spec,
      restoreBackup: (manifest) =>
        runRestore({ project, manifest, spec, volumes: [], destination: input.destination, healthTimeoutSeconds: input.healthTimeoutSeconds }, progress),
    };
  }
  return runMigration(input, site, progress);
}
