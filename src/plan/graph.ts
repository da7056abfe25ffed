/**
 * The plan as a graph of every operation an executor runs: networks and
 * volumes, each container step with its rollout order and batch (and the
 * start-first → stop-first fallback), the waits dependants and `--wait` need,
 * restarts of dependants, `after_replace`, orphan removals, and the final
 * re-observe and verification. Each node names its resource, its cause and
 * the nodes it runs after, and carries what the executor runs for it (`run`).
 * Pure: the deploy workflow and `--dry-run` build it from the same DeployPlan,
 * and the executor (workflows/apply.ts) runs each node's `run` and takes every
 * decision from here: which steps a service runs directly and which it rolls,
 * the rollout's order, batches and fallback, which waits are folded into their
 * creation, which services are waited for at the end, what after_replace
 * nudges and when, which orphans go.
 */
import type { ServiceSpec, StackSpec, UpdateConfigSpec } from '../model/spec';
import { drainMs, publishesFixedHostPort, serviceExtension, type AfterReplaceAction } from '../model/extensions';
import type { ContainerOperation, DeployPlan, ServiceStep } from './deploy-plan';
import { rolloutBatches, rolloutSettings, type RolloutOverrides, type RolloutSettings } from './rollout';

/** How a service's changed containers are replaced. */
export interface RolloutDecision {
  settings: RolloutSettings;
  /** The order that runs: update_config's, or stop-first where start-first falls back. */
  order: RolloutSettings['order'];
  /** Why start-first became stop-first. */
  fallback?: string;
  /** Why the rollout cannot run at all: the executor fails the service with this message. */
  refusal?: string;
}

export interface GraphOptions {
  /** Wait for every service with a healthcheck to be healthy (deploy --wait, update). */
  wait: boolean;
  rollout?: RolloutOverrides;
  /** Roll with rollback_config instead of update_config. */
  rollingBack?: boolean;
  /** Services other hosts' parts of the stack depend on: their containers are waited for on their own. */
  dependedOnElsewhere?: Iterable<string>;
  /** Every service of the whole stack, when the plan is one host's part: after_replace may nudge a service on another host. */
  stackServices?: Iterable<string>;
  /** The services with a step on some host, when the plan is one host's part: a dependency on one of them is a gate even when its steps are on another host. */
  stackSteps?: Iterable<string>;
}

/** What a service waits for before its own steps start: a dependency started (converged), healthy or completed. */
export interface Gate {
  service: string;
  condition: 'started' | 'healthy' | 'completed';
}

/** Extra observe → plan → execute rounds after a plan ran, for a host that drifted meanwhile (the re-observe node). */
export const RECONVERGE_ROUNDS = 2;

/** What the executor runs for a node (toString() prints the action, resource and cause instead). */
export type NodeRun =
  /** A network or volume: the host's one ensureNetworksAndVolumes step. */
  | { kind: 'ensure' }
  /** A container step run directly: create, start, restart or remove; `foldsWait`: created and waited for healthy in one step. */
  | { kind: 'container'; service: string; op: ContainerOperation; foldsWait: boolean }
  /** One container of `service` waited for. */
  | { kind: 'wait'; service: string; container: string; condition: 'healthy' | 'completed' }
  /** One container replaced in batch `batch` (from 0) of its service's rollout. */
  | { kind: 'replace'; service: string; op: ContainerOperation; batch: number }
  /** The old container of a start-first replacement drained and removed. */
  | { kind: 'retire'; service: string; container: string }
  /** `service` was replaced: nudge the action's target, after batch `batch` (start-first) or once after the rollout. */
  | { kind: 'after_replace'; service: string; action: AfterReplaceAction; batch?: number }
  /** The rollout cannot run: the service fails with `message`. */
  | { kind: 'refuse'; service: string; message: string }
  | { kind: 'remove orphan'; op: ContainerOperation }
  | { kind: 're-observe' }
  | { kind: 'verify' };

export interface GraphNode {
  /** Unique in the graph: the resource for a container step, `<kind>:<name>` for the others. */
  id: string;
  action: string;
  resource: string;
  cause: string;
  /** Nodes that must have finished first. */
  dependsOn: string[];
  /** Runs after every node listed before it (orphan removal, re-observe). */
  afterAll?: boolean;
  run: NodeRun;
}

/** A service's rolling replacement as the graph lays it out. */
export interface Rollout {
  decision: RolloutDecision;
  /** The replace nodes' operations by batch, in order (none when the rollout is refused). */
  batches: ContainerOperation[][];
  /** The after_replace actions, each run once per batch before the batch's old containers go (start-first), else once after the rollout. */
  nudges: AfterReplaceAction[];
  nudgePerBatch: boolean;
}

export const START_FIRST_NEEDS_TWO =
  'update order start-first needs the old and new container running at once, but the service publishes a fixed host port (or listens on the host\'s network) and a second bind fails. ' +
  'Use deploy.update_config.order: stop-first, or allow the fallback with x-dockflow.update.allow_stop_first: true (or --allow-stop-first).';

export function decideRollout(service: ServiceSpec, options: Pick<GraphOptions, 'rollout' | 'rollingBack'>): RolloutDecision {
  const base: UpdateConfigSpec | undefined = options.rollingBack ? (service.deploy.rollbackConfig ?? service.deploy.updateConfig) : service.deploy.updateConfig;
  const settings = rolloutSettings(base, options.rollout);
  if (settings.order !== 'start-first' || !publishesFixedHostPort(service)) return { settings, order: settings.order };
  if (!serviceExtension(service).update?.allow_stop_first && !options.rollout?.allowStopFirst) {
    return { settings, order: 'start-first', refusal: `service ${service.name}: ${START_FIRST_NEEDS_TWO}` };
  }
  return { settings, order: 'stop-first', fallback: 'start-first falls back to stop-first: a fixed host port cannot be bound twice' };
}

/** after_replace actions whose target service is in the stack (others are ignored, as they always were); `stack` the whole stack's services when `spec` is one host's part. */
export function afterReplaceActions(spec: StackSpec, service: string, stack?: Iterable<string>): AfterReplaceAction[] {
  const targets = new Set(stack ?? Object.keys(spec.services));
  return (serviceExtension(spec.services[service]).after_replace ?? []).filter((action) => targets.has(action.service));
}

export function describeAfterReplace(action: AfterReplaceAction): string {
  return 'signal' in action ? `send ${action.signal} to` : 'restart';
}

/** The nodes every operation ends with, changes or not. */
const FINAL_ACTIONS = new Set(['re-observe', 'verify']);

export class PlanGraph {
  constructor(
    readonly project: string,
    readonly nodes: GraphNode[],
    /** Per service with containers to replace: how they are replaced. */
    readonly rollouts: Record<string, RolloutDecision>,
    /** Services each of whose containers is created (or started) and waited for healthy in one step. */
    readonly foldedWaits: ReadonlySet<string>,
    /** Services waited for healthy at the end (deploy --wait, update): folded or not, in plan order. */
    readonly finalWaits: ReadonlySet<string>,
    /**
     * Per service, in depends_on order: what its steps wait for, one gate after
     * the other (a gate's waits start when the first service needing them gets
     * there). A gate on a service of another host's part has no node here.
     */
    readonly gates: Record<string, Gate[]>,
    /** Per service: the containers a wait for it waits for; undefined when untouched and already healthy (or completed) when observed. */
    readonly waitTargets: Record<string, string[] | undefined>,
    readonly notes: string[],
  ) {}

  private runs<K extends NodeRun['kind']>(kind: K): Extract<NodeRun, { kind: K }>[] {
    return this.nodes.map((n) => n.run).filter((r): r is Extract<NodeRun, { kind: K }> => r.kind === kind);
  }

  /** A service's container steps run directly (not rolled), in plan order. */
  direct(service: string): Extract<NodeRun, { kind: 'container' }>[] {
    return this.runs('container').filter((r) => r.service === service);
  }

  /** A service's rolling replacement, if it has containers to replace. */
  rollout(service: string): Rollout | undefined {
    const decision = this.rollouts[service];
    if (!decision) return undefined;
    const batches: ContainerOperation[][] = [];
    for (const r of this.runs('replace')) if (r.service === service) (batches[r.batch] ??= []).push(r.op);
    const nudgeRuns = this.runs('after_replace').filter((r) => r.service === service);
    const nudgePerBatch = nudgeRuns.some((r) => r.batch !== undefined);
    const nudges = nudgeRuns.filter((r) => !nudgePerBatch || r.batch === 0).map((r) => r.action);
    return { decision, batches, nudges, nudgePerBatch };
  }

  /** The containers removed after everything else, in plan order. */
  orphans(): ContainerOperation[] {
    return this.runs('remove orphan').map((r) => r.op);
  }

  /** One line per node, in the order an executor may start them: what `--dry-run` prints and golden tests compare. */
  toString(): string {
    const changes = this.nodes.filter((n) => !FINAL_ACTIONS.has(n.action));
    const lines = changes.length === 0 ? [`project ${this.project} is up to date: no operations`] : [];
    for (const node of this.nodes) {
      const after = node.afterAll ? ' after all above' : node.dependsOn.length > 0 ? ` after ${node.dependsOn.join(', ')}` : '';
      lines.push(`${node.action} ${node.resource} (${node.cause})${after}`);
    }
    for (const note of this.notes) lines.push(`note: ${note}`);
    return lines.join('\n');
  }
}

/**
 * A service nothing depends on, all of whose containers are created or
 * started now, with a healthcheck the operation waits for at the end: no
 * dependant is held up by its health, so each container is created and
 * waited for in one step, and each wait follows its own container only.
 */
export function foldsWaitIntoCreate(step: ServiceStep, wait: boolean, dependedOn: ReadonlySet<string>): boolean {
  return (
    wait &&
    step.hasHealthcheck &&
    !step.oneShot &&
    !dependedOn.has(step.service) &&
    step.containers.length > 0 &&
    step.operations.length === step.containers.length &&
    step.operations.every((op) => (op.action === 'create' || op.action === 'start') && step.containers.includes(op.name))
  );
}

export function planGraph(spec: StackSpec, plan: DeployPlan, options: GraphOptions): PlanGraph {
  const nodes: GraphNode[] = [];
  const rollouts: Record<string, RolloutDecision> = {};
  const add = (node: GraphNode): string => {
    nodes.push(node);
    return node.id;
  };
  const setup = [...plan.networks, ...plan.volumes].map((op) => add({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: [], run: { kind: 'ensure' } }));
  const steps = new Map(plan.services.map((s) => [s.service, s]));
  // Untouched and already healthy (or completed) when observed: the executor does not wait.
  const waitTargets = Object.fromEntries(plan.services.map((s) => [s.service, s.readyAsObserved ? undefined : s.containers]));
  /** The last nodes of each service's own work: what "converged" means for its dependants. */
  const finished = new Map<string, string[]>();
  const gates: Record<string, Gate[]> = {};
  const stackSteps = new Set([...steps.keys(), ...(options.stackSteps ?? [])]);
  const waits = new Map<string, string[]>();

  const waitNodes = (step: ServiceStep, kind: 'healthy' | 'completed', cause: string): string[] => {
    const key = `${kind}:${step.service}`;
    let ids = waits.get(key);
    if (!ids) {
      ids = (waitTargets[step.service] ?? []).map((name) =>
        add({ id: `${kind}:${name}`, action: `wait ${kind}`, resource: `container:${name}`, cause, dependsOn: finished.get(step.service) ?? [], run: { kind: 'wait', service: step.service, container: name, condition: kind } }),
      );
      waits.set(key, ids);
    }
    return ids;
  };

  const dependedOn = new Set([...plan.services.flatMap((s) => Object.keys(s.dependsOn)), ...(options.dependedOnElsewhere ?? [])]);
  const foldedWaits = new Set(plan.services.filter((s) => foldsWaitIntoCreate(s, options.wait, dependedOn)).map((s) => s.service));
  for (const step of plan.services) {
    const gate: string[] = [];
    gates[step.service] = Object.entries(step.dependsOn)
      .filter(([dep]) => stackSteps.has(dep))
      .map(([dep, d]) => ({
        service: dep,
        condition: d.condition === 'service_healthy' ? 'healthy' : d.condition === 'service_completed_successfully' ? 'completed' : 'started',
      }));
    for (const [dep, d] of Object.entries(step.dependsOn)) {
      const depStep = steps.get(dep);
      if (!depStep) continue;
      if (d.condition === 'service_healthy') gate.push(...waitNodes(depStep, 'healthy', `${step.service} depends on ${dep} (service_healthy)`));
      else if (d.condition === 'service_completed_successfully') gate.push(...waitNodes(depStep, 'completed', `${step.service} depends on ${dep} (service_completed_successfully)`));
      else gate.push(...(finished.get(dep) ?? []));
    }
    const before = [...setup, ...gate];
    const direct = step.operations.filter((op) => op.action !== 'recreate');
    const rolling = step.operations.filter((op) => op.action === 'recreate');
    const foldsWait = foldedWaits.has(step.service);
    const directIds = direct.map((op) =>
      add({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: before, run: { kind: 'container', service: step.service, op, foldsWait } }),
    );
    let last = directIds.length > 0 ? directIds : before;
    if (rolling.length > 0) last = rollingNodes(spec, step, rolling, last, options, add, rollouts);
    finished.set(step.service, directIds.length + rolling.length > 0 ? last : gate);
  }

  const finalWaits = new Set<string>();
  if (options.wait) {
    for (const step of plan.services) {
      if (foldedWaits.has(step.service)) {
        finalWaits.add(step.service);
        for (const name of step.containers) {
          const id = `container:${name}`;
          add({
            id: `healthy:${name}`,
            action: 'wait healthy',
            resource: id,
            cause: 'the operation waits for every service with a healthcheck; created and waited for in one step',
            dependsOn: [id],
            run: { kind: 'wait', service: step.service, container: name, condition: 'healthy' },
          });
        }
      } else if (step.hasHealthcheck && !step.oneShot && step.containers.length > 0) {
        finalWaits.add(step.service);
        waitNodes(step, 'healthy', 'the operation waits for every service with a healthcheck');
      }
    }
  }
  for (const op of plan.orphans) add({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: [], afterAll: true, run: { kind: 'remove orphan', op } });
  add({ id: `observe:${plan.project}`, action: 're-observe', resource: `project:${plan.project}`, cause: `converge again what drifted meanwhile, up to ${RECONVERGE_ROUNDS} rounds`, dependsOn: [], afterAll: true, run: { kind: 're-observe' } });
  add({ id: `verify:${plan.project}`, action: 'verify', resource: `project:${plan.project}`, cause: 'the host must match the spec before a revision is recorded', dependsOn: [`observe:${plan.project}`], run: { kind: 'verify' } });
  return new PlanGraph(plan.project, nodes, rollouts, foldedWaits, finalWaits, gates, waitTargets, plan.notes);
}

/**
 * A service's replacements in batches of `parallelism`, each batch after the
 * one before it; start-first retires each old container after its batch and
 * nudges after_replace targets per batch, before the old containers go;
 * stop-first nudges once, after the last batch. Returns the service's last nodes.
 */
function rollingNodes(
  spec: StackSpec,
  step: ServiceStep,
  rolling: ContainerOperation[],
  before: string[],
  options: GraphOptions,
  add: (node: GraphNode) => string,
  rollouts: Record<string, RolloutDecision>,
): string[] {
  const service = spec.services[step.service];
  const decision = decideRollout(service, options);
  rollouts[step.service] = decision;
  if (decision.refusal) {
    return [add({ id: `refuse:${step.service}`, action: 'fail', resource: `service:${step.service}`, cause: decision.refusal, dependsOn: before, run: { kind: 'refuse', service: step.service, message: decision.refusal } })];
  }
  const batches = rolloutBatches(rolling, decision.settings.parallelism);
  const nudges = afterReplaceActions(spec, step.service, options.stackServices);
  const nudgePerBatch = decision.order === 'start-first' && nudges.length > 0;
  const { delayMs } = decision.settings;
  let previous = before;
  const all: string[] = [];
  for (const [index, batch] of batches.entries()) {
    const of = `batch ${index + 1}/${batches.length}`;
    const delay = index > 0 && delayMs > 0 ? `, ${delayMs} ms after the batch before` : '';
    const fallback = decision.fallback ? `; ${decision.fallback}` : '';
    const replaced = batch.map((op) =>
      add({ id: op.resource, action: `${decision.order} replace`, resource: op.resource, cause: `${op.cause}, ${of}${delay}${fallback}`, dependsOn: previous, run: { kind: 'replace', service: step.service, op, batch: index } }),
    );
    const nudged = nudgePerBatch ? nudges.map((action) => add(nudgeNode(step.service, action, `${step.service} ${of} took the alias, before the old containers are retired`, replaced, index))) : [];
    if (decision.order === 'start-first') {
      for (const op of batch) {
        all.push(
          add({
            id: `retire:${op.name}`,
            action: 'drain and remove old',
            resource: op.resource,
            cause: `out of service discovery; ${drainMs(service)} ms drain`,
            dependsOn: nudged.length > 0 ? nudged : [op.resource],
            run: { kind: 'retire', service: step.service, container: op.name },
          }),
        );
      }
    }
    previous = [...replaced, ...nudged];
    all.push(...replaced, ...nudged);
  }
  if (!nudgePerBatch) all.push(...nudges.map((action) => add(nudgeNode(step.service, action, `${step.service} was replaced`, previous))));
  return all;
}

function nudgeNode(service: string, action: AfterReplaceAction, cause: string, dependsOn: string[], batch?: number): GraphNode {
  return {
    id: `after_replace:${service}:${action.service}${batch !== undefined ? `:${batch + 1}` : ''}`,
    action: describeAfterReplace(action),
    resource: `service:${action.service}`,
    cause: `after_replace: ${cause}`,
    dependsOn,
    run: { kind: 'after_replace', service, action, ...(batch !== undefined ? { batch } : {}) },
  };
}
