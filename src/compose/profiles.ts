/**
 * Profiles phase, and the dependency checks that depend on it.
 *
 * A service without `profiles:` is always enabled; one with profiles is
 * enabled when one of them is active ("*" activates all). The active
 * profiles are --profile, else COMPOSE_PROFILES (comma separated).
 *
 * After selection, every depends_on of an enabled service must point at an
 * enabled service, unless it is `required: false`, in which case it is
 * dropped when the target is missing or disabled. depends_on must not form a
 * cycle.
 */
import type { ServiceSpec } from '../model/spec';
import type { Lookup } from './interpolate';
import type { Provenance } from './paths';
import type { RawProject } from './schema';

export function activeProfiles(option: readonly string[] | undefined, lookup: Lookup): string[] {
  if (option) return [...option];
  return (lookup('COMPOSE_PROFILES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Service names, in file order, whose profiles let them run. */
export function enabledServices(raw: RawProject, active: readonly string[]): string[] {
  const on = (profiles: readonly string[]) => profiles.length === 0 || active.includes('*') || profiles.some((p) => active.includes(p));
  return Object.entries(raw.services ?? {})
    .filter(([, s]) => on(s?.profiles ?? []))
    .map(([name]) => name);
}

/** Drops optional dependencies that cannot be met; refuses required ones. Mutates `services`. */
export function resolveDependencies(services: Record<string, ServiceSpec>, raw: RawProject, provenance: Provenance): void {
  for (const service of Object.values(services)) {
    for (const [dep, d] of Object.entries(service.dependsOn)) {
      if (dep in services) continue;
      if (!d.required) {
        delete service.dependsOn[dep];
        continue;
      }
      const where = ['services', service.name, 'depends_on', dep];
      const declared = raw.services?.[dep];
      if (declared === undefined) throw provenance.error(where, `service ${service.name} depends on undefined service ${dep}`);
      const profiles = declared?.profiles ?? [];
      throw provenance.error(
        where,
        `service ${service.name} depends on ${dep}, which is disabled by its profiles (enable one with --profile ${profiles.join(' or --profile ')})`,
      );
    }
  }
  const cycle = findCycle(services);
  if (cycle) {
    const members = [...new Set(cycle)].sort();
    throw provenance.error(['services', cycle[0], 'depends_on', cycle[1]], `depends_on cycle among services: ${members.join(', ')} (${cycle.join(' -> ')})`);
  }
}

/** The first depends_on cycle found, as a closed walk [a, b, ..., a], or undefined. */
export function findCycle(services: Record<string, Pick<ServiceSpec, 'dependsOn'>>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done' || !(name in services)) return undefined;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of Object.keys(services[name].dependsOn).sort()) {
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of Object.keys(services).sort()) {
    const found = visit(name);
    if (found) return found;
  }
  return undefined;
}
