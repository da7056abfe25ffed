/**
 * Which Docker host holds a data set when a stack spans hosts: the one that
 * runs the services mounting it (src/plan/placement.ts decides where each
 * service runs). Pure: workflows/data-hosts.ts calls it for backups,
 * restores of backups taken before hosts were registered, and refusals.
 */
import { BackupPlanError } from './plan';

export interface PlacedDataSet {
  kind: 'volume' | 'bind';
  key: string;
  /** Services whose containers mount it. */
  services: string[];
  /** Chosen by default rather than named. */
  optional?: boolean;
}

/**
 * The host of `dataSet`, or undefined for a declared volume no service
 * mounts that was not named (it was created on no host). Throws a
 * BackupPlanError naming the data set when no host or several hosts hold it:
 * a named volume mounted on two hosts is two volumes, and dockflow will not
 * guess which one is the data.
 */
export function hostOfDataSet(project: string, dataSet: PlacedDataSet, hostOf: Record<string, string>): string | undefined {
  const hosts = [...new Set(dataSet.services.map((s) => hostOf[s]).filter((h) => h !== undefined))].sort();
  const what = `${dataSet.kind === 'volume' ? 'volume' : 'bind mount'} ${dataSet.key}`;
  if (hosts.length === 0) {
    if (dataSet.optional) return undefined;
    throw new BackupPlanError(`project ${project}: ${what} is mounted by no service, so no host holds it`);
  }
  if (hosts.length > 1) {
    const where = dataSet.services.map((s) => `${s} on ${hostOf[s]}`).join(', ');
    throw new BackupPlanError(
      `project ${project}: ${what} is mounted by services on different hosts (${where}): each host has a volume of its own, so dockflow cannot tell which one to take; place them on one host`,
    );
  }
  return hosts[0];
}
