/**
 * The plan graph is the whole truth (issue 18): what `deploy --dry-run`
 * prints is what the executor does, no more and no less, in an order the
 * graph allows. Each scenario asks the deploy workflow for its dry run, runs
 * the real deploy on the in-memory host of ./fake-host.ts, and then holds
 * every Docker step the activities saw against the graph built from the same
 * observation:
 *
 * - every node was carried out, by the steps its action stands for;
 * - every step the executor took belongs to a node (nothing decided outside);
 * - no step of a node started before every node it depends on had finished,
 *   and the nodes that run "after all above" started after all of those.
 *
 * Activity spans come from the worker's own process: each activity call is
 * run in an AsyncLocalStorage context that stamps the start and end of the
 * fake steps it made (a batched call's steps end with the batch, which is
 * when the workflow learns of them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../src/temporal/dev-server';
import { loadStack } from '../../src/compose';
import type { StackSpec } from '../../src/model/spec';
import type { ObservedProject } from '../../src/model/observed';
import { planDeploy } from '../../src/plan/deploy-plan';
import { planGraph, type GraphNode, type PlanGraph } from '../../src/plan/graph';
import { projectDir, workflowBundlePath } from '../support/harness';
import { FakeHost, fakeActivities, type FakeCall } from './fake-host';
import { createBatchActivities, type BatchedSteps } from '../../activities/batch';

let env: TestWorkflowEnvironment;
let bundlePath: string;

before(async () => {
  env = await startDevServer();
  bundlePath = await workflowBundlePath();
});
after(async () => {
  await env?.teardown();
});

interface Span {
  start: number;
  end: number;
}

/** The fake host's steps with the logical time each started and finished. */
class TracedHost {
  readonly spans = new Map<FakeCall, Span>();
  private clock = 0;
  private readonly context = new AsyncLocalStorage<FakeCall[]>();

  constructor(readonly host: FakeHost) {
    const record = host.record.bind(host);
    host.record = (activity: string, subject: string) => {
      record(activity, subject);
      const call = host.calls[host.calls.length - 1];
      this.spans.set(call, { start: this.clock++, end: Number.POSITIVE_INFINITY });
      this.context.getStore()?.push(call);
    };
  }

  /**
   * The fake's activities, each call timed from its start to its return. The
   * batched activities run the timed single steps, so a container created and
   * waited for in one batch has each step's own span.
   */
  activities(): Record<string, (...args: unknown[]) => Promise<unknown>> {
    const plain = fakeActivities(this.host, async () => env.client.workflow) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const timed = Object.fromEntries(Object.entries(plain).map(([name, fn]) => [name, this.timed(fn)]));
    return { ...timed, ...(createBatchActivities(timed as unknown as BatchedSteps) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>) };
  }

  private timed(fn: (...args: unknown[]) => Promise<unknown>): (...args: unknown[]) => Promise<unknown> {
    return (...args) => {
      const made: FakeCall[] = [];
      return this.context.run(made, async () => {
        try {
          return await fn(...args);
        } finally {
          const end = this.clock++;
          for (const call of made) this.spans.get(call)!.end = end;
        }
      });
    };
  }
}

async function withWorker<T>(traced: TracedHost, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `conf-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { codePath: bundlePath },
    activities: traced.activities(),
  });
  return worker.runUntil(fn(taskQueue));
}

function loadCompose(project: string, text: string): StackSpec {
  const dir = projectDir(project, {});
  const file = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(file, `name: ${project}\n${text}`);
  return loadStack({ files: [file], environment: {} }).spec;
}

const canonical = (name: string) => name.replace(/_dockflow-(next|old)-[0-9a-f]+$/, '');

/** Steps that are the operation's own bookkeeping, not the plan's work on the host. */
const BOOKKEEPING = new Set(['checkPolicy', 'checkDataPolicy', 'ensureImages', 'ensureImage', 'recordRevision', 'linkToRevision']);

/**
 * Give each step of an executed plan to the graph node it carries out.
 * Returns the steps per node and the steps that belong to no node.
 */
function attribute(graph: PlanGraph, calls: FakeCall[]): { byNode: Map<string, FakeCall[]>; stray: FakeCall[] } {
  const byNode = new Map<string, FakeCall[]>(graph.nodes.map((n) => [n.id, []]));
  const stray: FakeCall[] = [];
  const node = (id: string) => graph.nodes.find((n) => n.id === id);
  const give = (id: string | undefined, call: FakeCall) => (id !== undefined && byNode.has(id) ? byNode.get(id)!.push(call) : stray.push(call));
  const replaceOf = (name: string): GraphNode | undefined => {
    const n = node(`container:${name}`);
    return n && n.action.endsWith(' replace') ? n : undefined;
  };
  const setup = graph.nodes.filter((n) => n.id.startsWith('network:') || n.id.startsWith('volume:'));
  // The k-th nudge of a service belongs to its k-th after_replace node.
  const nudges = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) if (n.id.startsWith('after_replace:')) nudges.set(n.resource, [...(nudges.get(n.resource) ?? []), n]);
  // A stop-first replacement waits for its own container once before anything else may wait for it.
  const replacementWaited = new Set<string>();
  let observations = 0;

  for (const call of calls) {
    if (BOOKKEEPING.has(call.activity)) continue;
    const name = call.subject;
    switch (call.activity) {
      case 'observeProject':
        // The first observation is the one the plan was made from; the next are the graph's re-observe.
        if (observations++ > 0) give(`observe:${graph.project}`, call);
        break;
      case 'verifyProject':
        give(`verify:${graph.project}`, call);
        break;
      case 'ensureNetworksAndVolumes':
        // Idempotent and always made; it carries out every network and volume node there is.
        for (const n of setup) byNode.get(n.id)!.push(call);
        break;
      case 'convergeContainer':
      case 'restartContainer':
        give(node(`container:${name}`)?.id, call);
        break;
      case 'startReplacement':
      case 'promoteReplacement':
      case 'swapNames':
      case 'checkContainer':
        give(replaceOf(canonical(name))?.id, call);
        break;
      case 'removeContainer':
        give(name !== canonical(name) ? `retire:${canonical(name)}` : node(`container:${name}`)?.id, call);
        break;
      case 'waitHealthy':
      case 'waitCompleted': {
        const kind = call.activity === 'waitHealthy' ? 'healthy' : 'completed';
        const replace = replaceOf(canonical(name));
        if (name !== canonical(name) || (replace?.action === 'stop-first replace' && !replacementWaited.has(name))) {
          replacementWaited.add(name);
          give(replace?.id, call);
        } else give(`${kind}:${name}`, call);
        break;
      }
      case 'nudgeService': {
        const queue = nudges.get(`service:${name}`) ?? [];
        const next = queue.find((n) => byNode.get(n.id)!.length === 0);
        give(next?.id, call);
        break;
      }
      default:
        stray.push(call);
    }
  }
  return { byNode, stray };
}

/** Every way the executed steps differ from the graph; empty when the executor did exactly what the graph says. */
function departures(graph: PlanGraph, calls: FakeCall[], spans: Map<FakeCall, Span>): string[] {
  const { byNode, stray } = attribute(graph, calls);
  const problems = stray.map((c) => `${c.activity} ${c.subject}: no node of the graph stands for it`);
  const startOf = (id: string) => Math.min(...byNode.get(id)!.map((c) => spans.get(c)!.start));
  const endOf = (id: string) => Math.max(...byNode.get(id)!.map((c) => spans.get(c)!.end));
  const done = (id: string) => byNode.get(id)!.length > 0;
  for (const [index, n] of graph.nodes.entries()) {
    // The final verification may compare the last observation in the workflow itself, without a step of its own.
    if (!done(n.id)) {
      if (n.action !== 'verify') problems.push(`${n.action} ${n.resource}: in the graph, never carried out`);
      continue;
    }
    const changes = byNode.get(n.id)!.filter((c) => !c.activity.startsWith('wait'));
    if (['create', 'start', 'remove', 'restart'].includes(n.action) && changes.length !== 1) {
      problems.push(`${n.action} ${n.resource}: ${changes.length} steps (${changes.map((c) => c.activity).join(', ')}), expected 1`);
    }
    const before = n.afterAll ? graph.nodes.slice(0, index).filter((m) => !m.afterAll).map((m) => m.id) : n.dependsOn;
    for (const dep of before.filter(done)) {
      // A node and the setup it depends on may share the one ensureNetworksAndVolumes step.
      if (dep.startsWith('network:') || dep.startsWith('volume:')) continue;
      if (startOf(n.id) < endOf(dep)) problems.push(`${n.action} ${n.resource} started before ${dep} had finished`);
    }
  }
  return problems;
}

/** The dry run's graph, then the deploy; the graph rebuilt from the observation the deploy planned from must print the same. */
async function deployAgainstGraph(
  traced: TracedHost,
  taskQueue: string,
  spec: StackSpec,
  removeOrphans: boolean,
): Promise<{ graph: PlanGraph; calls: FakeCall[]; planFrom: { observed: ObservedProject; imageIds: Record<string, string> } }> {
  const start = (dryRun: boolean) => {
    const flags: Record<string, unknown> = { removeOrphans, dryRun, wait: true };
    return env.client.workflow.execute('deploy', { taskQueue, workflowId: `deploy-${spec.project}-${randomUUID()}`, args: [{ spec, ...flags }] });
  };
  const imageIds = (await traced.activities().ensureImages({ spec, services: Object.keys(spec.services) })) as Record<string, string>;
  const observed = traced.host.observe(spec.project);
  const graph = planGraph(spec, planDeploy(spec, observed, imageIds, { removeOrphans }), { wait: true });
  const dry = (await start(true)) as { graph: string };
  assert.equal(dry.graph, graph.toString(), 'the dry run prints the graph the test holds the deploy against');
  const from = traced.host.calls.length;
  await start(false);
  return { graph, calls: traced.host.calls.slice(from), planFrom: { observed, imageIds } };
}

const service = (name: string, release: number, extra = '') =>
  `  ${name}:\n    image: ${name}:1\n    environment: {RELEASE: "${release}"}\n    healthcheck: {test: ["CMD", "true"], interval: 1s}\n${extra}`;

/** db ← migrate (completes) ← api ← web (3 replicas, start-first, nudges proxy) ← proxy; worker (2 replicas, stop-first); old. */
function shop(project: string, release: { web: number; worker: number }, withOld: boolean): StackSpec {
  const services = [
    service('db', 1),
    `  migrate:\n    image: migrate:1\n    restart: "no"\n    depends_on: {db: {condition: service_healthy}}\n`,
    service('api', 1, '    depends_on:\n      db: {condition: service_healthy}\n      migrate: {condition: service_completed_successfully}\n'),
    service(
      'web',
      release.web,
      '    depends_on: [api]\n    deploy:\n      replicas: 3\n      update_config: {order: start-first, parallelism: 1}\n' +
        '    x-dockflow:\n      update: {drain: 50ms}\n      after_replace: [{service: proxy, signal: SIGHUP}]\n',
    ),
    service('proxy', 1, '    depends_on: [web]\n'),
    service('worker', release.worker, '    deploy:\n      replicas: 2\n      update_config: {order: stop-first, parallelism: 2}\n'),
    ...(withOld ? [service('old', 1)] : []),
  ];
  return loadCompose(project, `services:\n${services.join('')}volumes:\n  data: {}\n`);
}

describe('the executor carries out the plan graph and nothing else', { timeout: 120_000 }, () => {
  it('a first deploy: setup, the depends_on chain with its health and completion waits, the final waits, re-observe', async () => {
    const traced = new TracedHost(new FakeHost());
    const project = `conf-new-${randomUUID().slice(0, 8)}`;
    const { graph, calls } = await withWorker(traced, (q) => deployAgainstGraph(traced, q, shop(project, { web: 1, worker: 1 }, true), false));
    assert.ok(graph.nodes.some((n) => n.id === `completed:${project}-migrate-1`), graph.toString());
    assert.deepEqual(departures(graph, calls, traced.spans), [], graph.toString());
  });

  it('a rolling redeploy: start-first batches with per-batch nudges and retirements, a stop-first batch, an orphan removed', async () => {
    const traced = new TracedHost(new FakeHost());
    const project = `conf-roll-${randomUUID().slice(0, 8)}`;
    const { graph, calls } = await withWorker(traced, async (q) => {
      await deployAgainstGraph(traced, q, shop(project, { web: 1, worker: 1 }, true), false);
      return deployAgainstGraph(traced, q, shop(project, { web: 2, worker: 2 }, false), true);
    });
    const actions = new Set(graph.nodes.map((n) => n.action));
    for (const expected of ['start-first replace', 'stop-first replace', 'drain and remove old', 'send SIGHUP to', 'remove']) assert.ok(actions.has(expected), `${expected} in\n${graph}`);
    assert.deepEqual(departures(graph, calls, traced.spans), [], graph.toString());
  });

  it('holds: a step the graph does not name, or a node left out, is reported', async () => {
    // The check itself must be able to fail: the same deploy held against the graph of another plan.
    const traced = new TracedHost(new FakeHost());
    const project = `conf-neg-${randomUUID().slice(0, 8)}`;
    const spec = shop(project, { web: 1, worker: 1 }, false);
    const { graph, calls, planFrom } = await withWorker(traced, (q) => deployAgainstGraph(traced, q, spec, false));
    const withoutWaits = planGraph(spec, planDeploy(spec, planFrom.observed, planFrom.imageIds, { removeOrphans: false }), { wait: false });
    const problems = departures(withoutWaits, calls, traced.spans);
    assert.ok(problems.some((p) => /waitHealthy .*-web-\d: no node/.test(p)), problems.join('\n'));
    // And the graph with a node the executor never ran.
    const extra = Object.assign(Object.create(Object.getPrototypeOf(graph)), graph, {
      nodes: [...graph.nodes, { id: 'container:ghost', action: 'create', resource: 'container:ghost', cause: 'planted', dependsOn: [] }],
    }) as PlanGraph;
    assert.ok(departures(extra, calls, traced.spans).includes('create container:ghost: in the graph, never carried out'));
  });
});
