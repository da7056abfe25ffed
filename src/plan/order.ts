/**
 * Dependency order of services. Deterministic: among services whose
 * dependencies are all placed, names are taken in sorted order, so the same
 * spec always yields the same order (workflow replay relies on it).
 */
import type { StackSpec } from '../model/spec';

export function topologicalOrder(spec: StackSpec): string[] {
  const names = Object.keys(spec.services).sort();
  const placed = new Set<string>();
  const order: string[] = [];
  while (order.length < names.length) {
    const ready = names.filter(
      (name) => !placed.has(name) && Object.keys(spec.services[name].dependsOn).every((dep) => placed.has(dep) || !(dep in spec.services)),
    );
    if (ready.length === 0) {
      const stuck = names.filter((n) => !placed.has(n));
      throw new Error(`depends_on forms a cycle among services: ${stuck.join(', ')}`);
    }
    for (const name of ready) {
      placed.add(name);
      order.push(name);
    }
  }
  return order;
}
