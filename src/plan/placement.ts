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
 * the default host (`--host`, else the only host). Among several hosts that
 * qualify, the default host is taken if it is one of them, else the first by
 * name: all replicas of a service run on one host.
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
  /** Host of every service. */
  hostOf: Record<string, string>;
  /** Hosts that run at least one service, sorted. */
  hosts: string[];
  notes: string[];
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

export function placeServices(spec: StackSpec, hosts: HostInfo[], defaultHost?: string): Placement {
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
  for (const name of services) {
    const written = spec.services[name].deploy.placement?.constraints ?? [];
    const key = `services.${name}.deploy.placement.constraints`;
    if (written.length === 0) {
      if (fallback === undefined) {
        throw new PlacementError(name, key, `service ${name} has no placement constraint and there are several hosts (${names.join(', ')}): pass --host or add a constraint such as "node.hostname == ${names[0]}"`);
      }
      hostOf[name] = fallback;
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
    hostOf[name] = candidates.find((h) => h.name === fallback)?.name ?? candidates[0].name;
  }

  const notes: string[] = [];
  const hostsOfNetwork = new Map<string, Map<string, string>>();
  for (const name of services) {
    for (const network of Object.keys(spec.services[name].networks)) {
      const seen = hostsOfNetwork.get(network) ?? new Map<string, string>();
      if (!seen.has(hostOf[name])) seen.set(hostOf[name], name);
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
    const [service] = [...seen.values()].slice(1);
    throw new PlacementError(
      service,
      `services.${service}.networks.${network}`,
      `network ${network} is shared by services placed on different hosts (${where}), and there is no network between hosts: ` +
        'let them reach each other through published ports, or attach them to an external network you provide on every host',
    );
  }
  return { hostOf, hosts: [...new Set(Object.values(hostOf))].sort(), notes };
}

/**
 * One host's part of the stack: its services, and the networks and volumes
 * they use (nothing else is created there). A service's config hash is the
 * same in its part as in the whole stack, since it only depends on the
 * service and the names of its own networks and volumes.
 */
export function hostPart(spec: StackSpec, hostOf: Record<string, string>, host: string): StackSpec {
  const services = Object.fromEntries(Object.entries(spec.services).filter(([name]) => hostOf[name] === host));
  const networks = new Set(Object.values(services).flatMap((s) => Object.keys(s.networks)));
  const volumes = new Set(Object.values(services).flatMap((s) => s.volumes.flatMap((m) => (m.type === 'volume' && m.source !== undefined ? [m.source] : []))));
  return {
    ...spec,
    services,
    networks: Object.fromEntries(Object.entries(spec.networks).filter(([key]) => networks.has(key))),
    volumes: Object.fromEntries(Object.entries(spec.volumes).filter(([key]) => volumes.has(key))),
  };
}
