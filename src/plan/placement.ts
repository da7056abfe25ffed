/**
 * Which host runs each service, the Swarm way, so one compose file serves
 * both: `deploy.placement.constraints` entries of the forms
 *
 *   node.hostname == NAME        node.hostname != NAME
 *   node.labels.KEY == VALUE     node.labels.KEY != VALUE
 *
 * (labels are those given to the host's worker with `--label KEY=VALUE`; a
 * host without the label fails `==` and passes `!=`, as in Swarm). Every
 * constraint of a service must hold. A service without constraints runs on
 * the default host (`--host`, else the only host). A service with one
 * replica, among several hosts that qualify, takes the default host if it is
 * one of them, else the first by name.
 *
 * Spread, as Swarm spreads: a service with several replicas whose
 * constraints several hosts satisfy has its replicas spread over those hosts,
 * evenly, replica n on the ((n-1) mod k)-th of them by name (web-1 on host-1,
 * web-2 on host-2, web-3 on host-1 …). Container names stay those of one host
 * (`<project>-<service>-<n>`), unique across hosts and derived from the slot,
 * so a retried attempt finds what an earlier one did, and scaling up or down
 * never moves a replica that stays. compose's
 * `deploy.placement.max_replicas_per_node` caps the replicas on each host: a
 * service whose qualifying hosts cannot hold its replicas under it is an
 * error naming the service and the key.
 *
 * There is no overlay network between hosts: a compose network shared by
 * services placed on different hosts is refused (they would not reach each
 * other through it). The implicit `default` network is the exception: it is
 * created on each host separately, and a note says so.
 *
 * Pure: the workflow calls it, and so does `--dry-run`.
 */
import type { StackSpec } from '../model/spec';
import type { HostInfo } from '../model/hosts';

export class PlacementError extends Error {
  constructor(
    readonly service: string,
    /** The compose key at fault, e.g. `services.web.deploy.placement.constraints[0]`. */
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
  }
}

export interface Placement {
  /** Host of every service; for a spread service, the host of its replica 1 (its hooks run there; its data sets are held on each of its hosts, src/backup/hosts.ts). */
  hostOf: Record<string, string>;
  /**
   * Only for services whose replicas spread: the hosts they spread over, by
   * name (replica n on the ((n-1) mod k)-th). Absent when nothing spreads, so
   * a placement (and the revision recording it) is what it always was.
   */
  spread?: Record<string, string[]>;
  /** Hosts that run at least one service, sorted. */
  hosts: string[];
  notes: string[];
}

/** Options of placeServices: `spread: false` places every service on one host (workflows recorded before spread). */
export interface PlaceOptions {
  spread?: boolean;
}

interface Constraint {
  attribute: 'hostname' | 'label';
  label?: string;
  equal: boolean;
  value: string;
}

const CONSTRAINT = /^\s*node\.(hostname|labels\.([A-Za-z0-9][A-Za-z0-9._-]*))\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;

export function parseConstraint(text: string): Constraint | undefined {
  const m = CONSTRAINT.exec(text);
  if (!m) return undefined;
  return { attribute: m[1] === 'hostname' ? 'hostname' : 'label', ...(m[2] !== undefined ? { label: m[2] } : {}), equal: m[3] === '==', value: m[4] };
}

function holds(constraint: Constraint, host: HostInfo): boolean {
  const actual = constraint.attribute === 'hostname' ? host.name : host.labels[constraint.label as string];
  return constraint.equal ? actual === constraint.value : actual !== constraint.value;
}

export function placeServices(spec: StackSpec, hosts: HostInfo[], defaultHost?: string, options: PlaceOptions = {}): Placement {
  const byName = [...hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = byName.map((h) => h.name);
  const services = Object.keys(spec.services).sort();
  const first = services[0] ?? '';
  if (byName.length === 0) throw new PlacementError(first, `services.${first}`, 'no Docker host is registered: start a worker with --host NAME');
  if (defaultHost !== undefined && !names.includes(defaultHost)) {
    throw new PlacementError(first, '--host', `no host named ${defaultHost} is registered (hosts: ${names.join(', ')})`);
  }
  const fallback = defaultHost ?? (byName.length === 1 ? names[0] : undefined);
  const hostOf: Record<string, string> = {};
  const spread: Record<string, string[]> = {};
  for (const name of services) {
    const written = spec.services[name].deploy.placement?.constraints ?? [];
    const key = `services.${name}.deploy.placement.constraints`;
    if (written.length === 0) {
      if (fallback === undefined) {
        throw new PlacementError(name, key, `service ${name} has no placement constraint and there are several hosts (${names.join(', ')}): pass --host or add a constraint such as "node.hostname == ${names[0]}"`);
      }
      hostOf[name] = fallback;
      checkMaxReplicas(spec, name, 1);
      continue;
    }
    const constraints = written.map((text, i) => {
      const parsed = parseConstraint(text);
      if (!parsed) {
        throw new PlacementError(name, `${key}[${i}]`, `${JSON.stringify(text)} is not a constraint dockflow understands: use node.hostname or node.labels.KEY with == or !=`);
      }
      return parsed;
    });
    const candidates = byName.filter((h) => constraints.every((c) => holds(c, h)));
    if (candidates.length === 0) {
      const described = byName.map((h) => `${h.name}${Object.keys(h.labels).length ? ` (${Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}`).join(', ');
      throw new PlacementError(name, key, `no host satisfies ${written.map((c) => JSON.stringify(c)).join(' and ')} for service ${name}; hosts: ${described}`);
    }
    const replicas = spec.services[name].deploy.replicas;
    if (options.spread !== false && replicas > 1 && candidates.length > 1) {
      spread[name] = candidates.map((h) => h.name);
      hostOf[name] = spread[name][0];
      checkMaxReplicas(spec, name, candidates.length);
      continue;
    }
    hostOf[name] = candidates.find((h) => h.name === fallback)?.name ?? candidates[0].name;
    checkMaxReplicas(spec, name, 1);
  }
  const placement = finish(spec, hostOf, Object.keys(spread).length > 0 ? spread : undefined);
  checkNetworks(spec, placement);
  return placement;
}

/**
 * A placement recorded in a revision, for `spec` (the revision's, or an
 * update of it): each service where it was, a spread service's replicas
 * spread again over the same hosts (an update may change their count).
 */
export function recordedPlacement(spec: StackSpec, hostOf: Record<string, string>, spread?: Record<string, string[]>): Placement {
  const kept = spread && Object.fromEntries(Object.entries(spread).filter(([s]) => s in spec.services));
  for (const [name, over] of Object.entries(kept ?? {})) checkMaxReplicas(spec, name, over.length);
  return finish(spec, hostOf, kept && Object.keys(kept).length > 0 ? kept : undefined);
}

function finish(spec: StackSpec, hostOf: Record<string, string>, spread: Record<string, string[]> | undefined): Placement {
  const placement: Placement = { hostOf, hosts: [], notes: [], ...(spread ? { spread } : {}) };
  const used = Object.keys(spec.services).flatMap((s) => hostsOfService(placement, s, spec.services[s].deploy.replicas));
  // Services of the placement the spec no longer has still name their host (they are removed from it).
  placement.hosts = [...new Set([...used, ...Object.values(hostOf)])].sort();
  return placement;
}

/** A stack on a single host (no hosts registered): every service's replicas on it, under its max_replicas_per_node. */
export function checkOneHost(spec: StackSpec): void {
  for (const name of Object.keys(spec.services).sort()) checkMaxReplicas(spec, name, 1);
}

function checkMaxReplicas(spec: StackSpec, name: string, hostCount: number): void {
  const { replicas, placement } = spec.services[name].deploy;
  const max = placement?.maxReplicasPerNode;
  if (max === undefined || replicas <= max * hostCount) return;
  throw new PlacementError(
    name,
    `services.${name}.deploy.placement.max_replicas_per_node`,
    `service ${name} has ${replicas} replicas but max_replicas_per_node ${max} on ${hostCount} host(s) its constraints allow holds ${max * hostCount}: ` +
      'lower replicas, raise max_replicas_per_node, or let more hosts satisfy the constraints',
  );
}

/** The replica numbers `service` runs on `host`: its slots there when it spreads, else all of them on its host. */
export function slotsOn(placement: Pick<Placement, 'hostOf' | 'spread'>, service: string, replicas: number, host: string): number[] {
  const over = placement.spread?.[service];
  if (!over) return placement.hostOf[service] === host ? Array.from({ length: replicas }, (_, i) => i + 1) : [];
  return Array.from({ length: replicas }, (_, i) => i + 1).filter((n) => over[(n - 1) % over.length] === host);
}

/** The hosts that run `service`: those holding one of its replicas, and always its hostOf (a service scaled to 0 stays in that part). */
export function hostsOfService(placement: Pick<Placement, 'hostOf' | 'spread'>, service: string, replicas: number): string[] {
  const over = placement.spread?.[service];
  const own = placement.hostOf[service];
  if (!over) return own === undefined ? [] : [own];
  return [...new Set([...(own !== undefined ? [own] : []), ...over.filter((h) => slotsOn(placement, service, replicas, h).length > 0)])].sort();
}

/** The services that run on `host` (each with at least its part of the stack there). */
export function servicesOn(spec: StackSpec, placement: Pick<Placement, 'hostOf' | 'spread'>, host: string): string[] {
  return Object.keys(spec.services).filter((s) => hostsOfService(placement, s, spec.services[s].deploy.replicas).includes(host));
}

/**
 * There is no network between hosts: a compose network shared by containers
 * on different hosts (services, or replicas of one spread service) is refused
 * unless external; the implicit default network gets a note.
 */
function checkNetworks(spec: StackSpec, placement: Placement): void {
  const services = Object.keys(spec.services).sort();
  const notes = placement.notes;
  const hostsOfNetwork = new Map<string, Map<string, string>>();
  for (const name of services) {
    for (const network of Object.keys(spec.services[name].networks)) {
      const seen = hostsOfNetwork.get(network) ?? new Map<string, string>();
      for (const host of hostsOfService(placement, name, spec.services[name].deploy.replicas)) if (!seen.has(host)) seen.set(host, name);
      hostsOfNetwork.set(network, seen);
    }
  }
  for (const [network, seen] of [...hostsOfNetwork].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (seen.size < 2) continue;
    const where = [...seen].map(([h, s]) => `${s} on ${h}`).join(', ');
    if (network === 'default') {
      notes.push(`the default network is created on each host separately (${where}): services on different hosts do not reach each other through it`);
      continue;
    }
    if (spec.networks[network]?.external) continue;
    // The first service found on a second host; a spread service alone on the network is the one at fault.
    const [service] = [...seen.values()].slice(1);
    throw new PlacementError(
      service,
      `services.${service}.networks.${network}`,
      `network ${network} is shared by services placed on different hosts (${where}), and there is no network between hosts: ` +
        'let them reach each other through published ports, or attach them to an external network you provide on every host',
    );
  }
}

/**
 * One host's part of the stack: its services, and the networks and volumes
 * they use (nothing else is created there). A service's config hash is the
 * same in its part as in the whole stack, since it only depends on the
 * service and the names of its own networks and volumes.
 */
export function hostPart(spec: StackSpec, hostOf: Record<string, string>, host: string, spread?: Record<string, string[]>): StackSpec {
  const placement = { hostOf, ...(spread ? { spread } : {}) };
  const services = Object.fromEntries(
    Object.entries(spec.services)
      .filter(([name, s]) => hostsOfService(placement, name, s.deploy.replicas).includes(host))
      // A spread service's part names its slots on this host; deploy.slots is outside the config hash.
      .map(([name, s]) => [name, spread?.[name] ? { ...s, deploy: { ...s.deploy, slots: slotsOn(placement, name, s.deploy.replicas, host) } } : s]),
  );
  const networks = new Set(Object.values(services).flatMap((s) => Object.keys(s.networks)));
  const volumes = new Set(Object.values(services).flatMap((s) => s.volumes.flatMap((m) => (m.type === 'volume' && m.source !== undefined ? [m.source] : []))));
  return {
    ...spec,
    services,
    networks: Object.fromEntries(Object.entries(spec.networks).filter(([key]) => networks.has(key))),
    volumes: Object.fromEntries(Object.entries(spec.volumes).filter(([key]) => volumes.has(key))),
  };
}
