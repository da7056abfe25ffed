/**
 * Which Docker host holds a data set when a stack spans hosts: the one that
 * runs the services mounting it (src/plan/placement.ts decides where each
 * service runs). Pure: workflows/data-hosts.ts calls it for backups,
 * restores of backups taken before hosts were registered, and refusals.
 *
 * A service whose replicas spread over several hosts has, on each of them,
 * a volume of its own under the same name (there is no volume between
 * hosts): its data sets are held as **host copies**, one per host, each
 * backed up as a data set of its own on its host (its archive names the
 * host) and put back on the host it came from. A restore refuses copies
 * that no longer match where the service runs, before anything is touched.
 */
import { BackupPlanError, dataSets } from './plan';
import type { StackSpec } from '../model/spec';
import type { ArchiveEntry } from './manifest';

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

/** Where a stack's services run, as its data sees it. */
export interface DataPlacement {
  /** Host of every service (a spread service: the host of its replica 1). */
  hostOf: Record<string, string>;
  /** Spread services only: every host that runs one of its replicas, sorted (src/plan/placement.ts hostsOfService). */
  spreadOver?: Record<string, string[]>;
}

const whatOf = (d: { kind: 'volume' | 'bind'; key: string }) => `${d.kind === 'volume' ? 'volume' : 'bind mount'} ${d.key}`;

/** The services of a data set that spread over several hosts. */
export function spreadUsers(dataSet: Pick<PlacedDataSet, 'services'>, placement: DataPlacement): string[] {
  return dataSet.services.filter((s) => (placement.spreadOver?.[s]?.length ?? 0) > 1);
}

/**
 * The hosts holding `dataSet`: one (hostOfDataSet, with its refusals), or,
 * when a service mounting it spreads over several hosts, every host that
 * runs one of its users, each holding a copy of its own. Empty for a
 * declared volume no service mounts that was not named.
 */
export function hostsOfDataSet(project: string, dataSet: PlacedDataSet, placement: DataPlacement): string[] {
  if (spreadUsers(dataSet, placement).length === 0) {
    const host = hostOfDataSet(project, dataSet, placement.hostOf);
    return host === undefined ? [] : [host];
  }
  const hosts = dataSet.services.flatMap((s) => placement.spreadOver?.[s] ?? (placement.hostOf[s] !== undefined ? [placement.hostOf[s]] : []));
  return [...new Set(hosts)].sort();
}

/** A restore's entries by host, and their refusals; nothing has been touched. */
export class HostCopiesError extends BackupPlanError {}

/**
 * The host each chosen entry of a backup goes back to, across hosts:
 *
 * - a host copy goes back to the host it came from, and the copies of one
 *   data set must be exactly the hosts that hold it now (`dataSetOf` gives
 *   its services from the spec): a copy missing, a host added or the
 *   service moved is refused, naming the service, the data set and both
 *   lists of hosts;
 * - any other entry goes where it was taken (`host`), else where its
 *   services run now, as before copies existed; but when its data set is
 *   now held as host copies (its service spread since), restoring it on one
 *   host would leave the others' copies as they are: refused likewise.
 *
 * Returns undefined for an entry no service mounts (no host holds it).
 */
export function restoreHostsOf(
  project: string,
  backupId: string,
  entries: ArchiveEntry[],
  placement: DataPlacement,
  dataSetOf: (key: string) => PlacedDataSet | undefined,
): (string | undefined)[] {
  const copiesOf = new Map<string, string[]>();
  for (const e of entries) if (e.hostCopy) copiesOf.set(e.key, [...(copiesOf.get(e.key) ?? []), e.host!]);
  const refuse = (entry: ArchiveEntry, set: PlacedDataSet, now: string[], held: string) => {
    const users = spreadUsers(set, placement);
    const services = (users.length ? users : set.services).join(', ');
    const taken = entry.hostCopy ? [...copiesOf.get(entry.key)!].sort() : entry.host !== undefined ? [entry.host] : [];
    const missing = now.filter((h) => !taken.includes(h));
    const gone = taken.filter((h) => !now.includes(h));
    const why = [
      ...(missing.length ? [`the backup has no copy from ${missing.join(', ')}`] : []),
      ...(gone.length ? [`${gone.join(', ')} no longer ${gone.length === 1 ? 'holds' : 'hold'} it`] : []),
      ...(now.length < 2 && entry.hostCopy ? [`${services} no longer spreads`] : []),
    ];
    return new HostCopiesError(
      `restore of ${project} refused before anything was touched: backup ${backupId} holds ${whatOf(entry)} of service ${services} ${held}, ` +
        `but it is now held on ${now.length ? now.join(', ') : 'no host'} (one copy per host that runs ${services}): ${why.join('; ')}. ` +
        'Restoring only some copies would leave the hosts on different data: deploy the revision the backup was taken at (so the service runs on those hosts again) and restore then, or take a new backup',
    );
  };
  const placed = new Map<string, string[]>();
  const nowOf = (entry: ArchiveEntry, set: PlacedDataSet) => {
    if (!placed.has(entry.key)) placed.set(entry.key, hostsOfDataSet(project, set, placement));
    return placed.get(entry.key)!;
  };
  return entries.map((entry) => {
    const set = dataSetOf(entry.key) ?? { kind: entry.kind, key: entry.key, services: entry.services };
    if (entry.hostCopy) {
      const held = [...copiesOf.get(entry.key)!].sort();
      const now = nowOf(entry, set);
      if (now.length < 2 || now.join(',') !== held.join(',')) throw refuse(entry, set, now, `as copies on ${held.join(', ')}`);
      return entry.host;
    }
    if (spreadUsers(set, placement).length > 0) {
      const now = nowOf(entry, set);
      if (now.length > 1) throw refuse(entry, set, now, `as a single copy${entry.host !== undefined ? ` taken on ${entry.host}` : ''}`);
    }
    return entry.host ?? hostOfDataSet(project, entry, placement.hostOf);
  });
}

/**
 * Why a migration of `service` is refused, or undefined. A migration runs
 * its one-off container once, on one host. Mounting a data set held as host
 * copies, it would change one host's copy and leave the others as they were
 * (the replicas on the other hosts would then run the new code on
 * unmigrated data). Running it once per host is no answer either: a failure
 * on the second host would leave the first migrated, and the restore that
 * undoes it is per copy too. So the operator migrates with the service on
 * one host (a constraint naming it, or replicas 1), then spreads it again.
 */
export function spreadMigrationRefusal(spec: StackSpec, placement: DataPlacement, service: string): string | undefined {
  for (const set of dataSets(spec).values()) {
    const users = spreadUsers(set, placement);
    if (!set.services.includes(service) || users.length === 0) continue;
    let hosts: string[];
    try {
      hosts = hostsOfDataSet(spec.project, set, placement);
    } catch {
      continue;
    }
    if (hosts.length < 2) continue;
    return (
      `service ${service} mounts ${whatOf(set)}, which is held as one copy per host (${hosts.join(', ')}, where ${users.join(', ')} spreads), ` +
      'and a migration runs once, on one host: it would migrate one copy only. Place the service on one host (a constraint naming it, or replicas: 1), migrate, then spread it again'
    );
  }
  return undefined;
}
