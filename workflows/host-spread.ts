/**
 * The executor's view of a stack across hosts (apply.ts): one step per
 * service, in the whole stack's dependency order. A service whose replicas
 * spread over several hosts (src/plan/placement.ts) has one step per host in
 * the hosts' plans; here they become one step, its containers and operations
 * in replica order, each container routed to its own host. So its rollout
 * batches (update_config parallelism and order) run across its replicas
 * wherever they are: with parallelism 1, web-1 on host-1, then web-2 on
 * host-2, then web-3 on host-1. Pure.
 */
import type { StackSpec } from '../src/model/spec';
import { serviceNumbers } from '../src/model/names';
import type { DeployPlan, ServiceStep } from '../src/plan/deploy-plan';
import { topologicalOrder } from '../src/plan/order';
import { planGraph, type GraphOptions, type PlanGraph } from '../src/plan/graph';
import type { HostPlan, Route } from './routes';

export interface StackSteps {
  /** Every service's step, in dependency order. */
  ordered: ServiceStep[];
  /** The host part a single-host service's step came from; a spread service's first. */
  partOf: Map<string, HostPlan>;
  /** Where each container (and each leftover an operation names) of a spread service is. */
  routeOfContainer: Map<string, Route>;
  /** The routes of every host a spread service's replicas run on, in host order. */
  hostsOfSpread: Map<string, Route[]>;
  /** The merged steps of spread services, as a plan of their own: their rollout graph comes from it. */
  spreadPlan?: DeployPlan;
}

export function stackSteps(spec: StackSpec, parts: HostPlan[]): StackSteps {
  const located = new Map<string, { part: HostPlan; step: ServiceStep }[]>();
  for (const part of parts) for (const step of part.plan.services) located.set(step.service, [...(located.get(step.service) ?? []), { part, step }]);
  const partOf = new Map([...located].map(([service, where]) => [service, where[0].part] as const));
  // One host's plan is in dependency order already; across hosts the whole stack's order is used.
  if (parts.length === 1) return { ordered: parts[0].plan.services, partOf, routeOfContainer: new Map(), hostsOfSpread: new Map() };
  const routeOfContainer = new Map<string, Route>();
  const hostsOfSpread = new Map<string, Route[]>();
  const merged: ServiceStep[] = [];
  const ordered = topologicalOrder(spec).flatMap((name): ServiceStep[] => {
    const where = located.get(name) ?? [];
    if (where.length <= 1) return where.map((w) => w.step);
    const step = mergeSteps(where, routeOfContainer);
    hostsOfSpread.set(name, where.map((w) => w.part.route));
    merged.push(step);
    return [step];
  });
  return {
    ordered,
    partOf,
    routeOfContainer,
    hostsOfSpread,
    ...(merged.length > 0 ? { spreadPlan: { project: spec.project, networks: [], volumes: [], services: merged, orphans: [], notes: [] } } : {}),
  };
}

export interface StackGraphs extends StackSteps {
  /** Each host's plan graph, without the spread services (their steps are in spreadGraph). */
  graphs: Map<HostPlan, PlanGraph>;
  /** The graph of the spread services' merged steps: their batches run across their hosts. */
  spreadGraph?: PlanGraph;
  /** The graph that holds a service's steps. */
  graphOf(service: string): PlanGraph;
}

/**
 * The graphs an operation across hosts runs (apply.ts) and `--dry-run`
 * prints (host-plans.ts), built in one place so the two cannot differ: each
 * host's graph, and one for the spread services rolled as one. Which waits are
 * folded into their creation depends on the whole stack's dependants, not one
 * host's, and after_replace may nudge a service on another host.
 */
export function stackGraphs(spec: StackSpec, parts: HostPlan[], options: GraphOptions): StackGraphs {
  const steps = stackSteps(spec, parts);
  const withStack: GraphOptions = {
    ...options,
    dependedOnElsewhere: steps.ordered.flatMap((s) => Object.keys(s.dependsOn)),
    stackServices: Object.keys(spec.services),
    stackSteps: steps.ordered.map((s) => s.service),
  };
  const spread = new Set(steps.spreadPlan?.services.map((s) => s.service) ?? []);
  const own = (plan: DeployPlan): DeployPlan => (spread.size > 0 ? { ...plan, services: plan.services.filter((s) => !spread.has(s.service)) } : plan);
  const graphs = new Map(parts.map((part) => [part, planGraph(part.spec, own(part.plan), withStack)] as const));
  const spreadGraph = steps.spreadPlan && planGraph(spec, steps.spreadPlan, withStack);
  const graphOf = (service: string): PlanGraph => (spreadGraph && spread.has(service) ? spreadGraph : graphs.get(steps.partOf.get(service) ?? parts[0])!);
  return { ...steps, graphs, ...(spreadGraph ? { spreadGraph } : {}), graphOf };
}

/** One service's steps on several hosts as one: containers and operations by replica number (stable, so a slot's leftovers still go first). */
function mergeSteps(where: { part: HostPlan; step: ServiceStep }[], routeOfContainer: Map<string, Route>): ServiceStep {
  const containers: { number: number; name: string }[] = [];
  for (const { part, step } of where) {
    const numbers = serviceNumbers(part.spec.services[step.service]);
    step.containers.forEach((name, i) => {
      containers.push({ number: numbers[i], name });
      routeOfContainer.set(name, part.route);
    });
    for (const op of step.operations) routeOfContainer.set(op.name, part.route);
  }
  const operations = where.flatMap((w) => w.step.operations).map((op, i) => ({ op, i }));
  operations.sort((a, b) => a.op.number - b.op.number || a.i - b.i);
  return {
    ...where[0].step,
    containers: containers.sort((a, b) => a.number - b.number).map((c) => c.name),
    operations: operations.map((o) => o.op),
    readyAsObserved: where.every((w) => w.step.readyAsObserved),
  };
}
