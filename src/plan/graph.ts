/**
 * The plan as a graph of every operation an executor runs: networks and
 * volumes, each container step with its rollout order and batch (and the
 * start-first → stop-first fallback), the waits dependants and `--wait` need,
 * restarts of dependants, `after_replace`, orphan removals, and the final
 * re-observe and verification. Each node names its resource, its cause and
 * the nodes it runs after. Pure: the deploy workflow and `--dry-run` build it
 * from the same DeployPlan, and the executor (workflows/apply.ts) reads its
 * rollout decisions from here instead of making them itself.
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
}

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

/** after_replace actions whose target service is in the stack (others are ignored, as they always were). */
export function afterReplaceActions(spec: StackSpec, service: string): AfterReplaceAction[] {
  return (serviceExtension(spec.services[service]).after_replace ?? []).filter((action) => action.service in spec.services);
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
    /** Per service with containers to replace: its replacement batches, in order. */
    readonly batches: Record<string, ContainerOperation[][]>,
    /** Services each of whose containers is created (or started) and waited for healthy in one step. */
    readonly foldedWaits: ReadonlySet<string>,
    readonly notes: string[],
  ) {}

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
  const batches: Record<string, ContainerOperation[][]> = {};
  const add = (node: GraphNode): string => {
    nodes.push(node);
    return node.id;
  };
  const setup = [...plan.networks, ...plan.volumes].map((op) => add({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: [] }));
  const steps = new Map(plan.services.map((s) => [s.service, s]));
  /** The last nodes of each service's own work: what "converged" means for its dependants. */
  const finished = new Map<string, string[]>();
  const waits = new Map<string, string[]>();

  const waitNodes = (step: ServiceStep, kind: 'healthy' | 'completed', cause: string): string[] => {
    const key = `${kind}:${step.service}`;
    let ids = waits.get(key);
    if (!ids) {
      // Untouched and already healthy (or completed) when observed: the executor does not wait.
      ids = step.readyAsObserved
        ? []
        : step.containers.map((name) => add({ id: `${kind}:${name}`, action: `wait ${kind}`, resource: `container:${name}`, cause, dependsOn: finished.get(step.service) ?? [] }));
      waits.set(key, ids);
    }
    return ids;
  };

  for (const step of plan.services) {
    const gate: string[] = [];
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
    const directIds = direct.map((op) => add({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: before }));
    let last = directIds.length > 0 ? directIds : before;
    if (rolling.length > 0) last = rollingNodes(spec, step, rolling, last, options, add, rollouts, batches);
    finished.set(step.service, directIds.length + rolling.length > 0 ? last : gate);
  }

  const dependedOn = new Set([...plan.services.flatMap((s) => Object.keys(s.dependsOn)), ...(options.dependedOnElsewhere ?? [])]);
  const foldedWaits = new Set(plan.services.filter((s) => foldsWaitIntoCreate(s, options.wait, dependedOn)).map((s) => s.service));
  if (options.wait) {
    for (const step of plan.services) {
      if (foldedWaits.has(step.service)) {
        for (const name of step.containers) {
          const id = `container:${name}`;
          add({ id: `healthy:${name}`, action: 'wait healthy', resource: id, cause: 'the operation waits for every service with a healthcheck; created and waited for in one step', dependsOn: [id] });
        }
      } else if (step.hasHealthcheck && !step.oneShot && step.containers.length > 0) waitNodes(step, 'healthy', 'the operation waits for every service with a healthcheck');
    }
  }
  for (const op of plan.orphans) nodes.push({ id: op.resource, action: op.action, resource: op.resource, cause: op.cause, dependsOn: [], afterAll: true });
  nodes.push({ id: `observe:${plan.project}`, action: 're-observe', resource: `project:${plan.project}`, cause: 'converge again what drifted meanwhile, up to 2 rounds', dependsOn: [], afterAll: true });
  nodes.push({ id: `verify:${plan.project}`, action: 'verify', resource: `project:${plan.project}`, cause: 'the host must match the spec before a revision is recorded', dependsOn: [`observe:${plan.project}`] });
  return new PlanGraph(plan.project, nodes, rollouts, batches, foldedWaits, plan.notes);
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
  batchesOut: Record<string, ContainerOperation[][]>,
): string[] {
  const service = spec.services[step.service];
  const decision = decideRollout(service, options);
  rollouts[step.service] = decision;
  if (decision.refusal) return [add({ id: `refuse:${step.service}`, action: 'fail', resource: `service:${step.service}`, cause: decision.refusal, dependsOn: before })];
  const batches = rolloutBatches(rolling, decision.settings.parallelism);
  batchesOut[step.service] = batches;
  const nudges = afterReplaceActions(spec, step.service);
  const nudgePerBatch = decision.order === 'start-first' && nudges.length > 0;
  const { delayMs } = decision.settings;
  let previous = before;
  const all: string[] = [];
  for (const [index, batch] of batches.entries()) {
    const of = `batch ${index + 1}/${batches.length}`;
    const delay = index > 0 && delayMs > 0 ? `, ${delayMs} ms after the batch before` : '';
    const fallback = decision.fallback ? `; ${decision.fallback}` : '';
    const replaced = batch.map((op) =>
      add({ id: op.resource, action: `${decision.order} replace`, resource: op.resource, cause: `${op.cause}, ${of}${delay}${fallback}`, dependsOn: previous }),
    );
    const nudged = nudgePerBatch ? nudges.map((action) => add(nudgeNode(step.service, action, `${step.service} ${of} took the alias, before the old containers are retired`, replaced, index))) : [];
    if (decision.order === 'start-first') {
      for (const op of batch) {
        all.push(add({ id: `retire:${op.name}`, action: 'drain and remove old', resource: op.resource, cause: `out of service discovery; ${drainMs(service)} ms drain`, dependsOn: nudged.length > 0 ? nudged : [op.resource] }));
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
  };
}
