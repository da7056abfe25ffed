/**
 * Which revision a host is on after an operation across hosts stopped
 * without going back (failure_action pause): from which of its services
 * match the new spec and which match the previous revision (each host
 * verified against both). Pure.
 */
export interface HostServicesState {
  host: string;
  /** The host's services in the new spec, and those of them that differ from it. */
  now: { services: string[]; differing: string[] };
  /** The host's services in the previous revision, and those that differ from it; absent: there was none. */
  then?: { number: number; services: string[]; differing: string[] };
}

/** "host-1: new spec (not recorded as a revision)", "host-3: revision 3", or "host-2: mixed (api new spec, cache revision 3)". */
export function describeHostRevision(state: HostServicesState): string {
  const { host, now, then } = state;
  const services = [...new Set([...now.services, ...(then?.services ?? [])])].sort();
  if (services.length === 0) return `${host}: nothing of the project`;
  const where = (service: string): string => {
    if (now.services.includes(service) && !now.differing.includes(service)) return 'new spec';
    if (then && then.services.includes(service) && !then.differing.includes(service)) return `revision ${then.number}`;
    return 'neither';
  };
  const states = services.map(where);
  if (states.every((w) => w === states[0]) && states[0] !== 'neither') {
    return states[0] === 'new spec' ? `${host}: new spec (not recorded as a revision)` : `${host}: ${states[0]}`;
  }
  return `${host}: mixed (${services.map((s, i) => `${s} ${states[i] === 'neither' ? 'neither the new spec nor the previous revision' : states[i]}`).join(', ')})`;
}
