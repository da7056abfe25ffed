/**
 * An in-memory Docker host for workflow tests: the activities the deploy,
 * update, rollback and down workflows call, acting on a map of containers
 * instead of the Docker engine. It exists to test what the workflows decide
 * (rollout batches, max_failure_ratio, failure_action, cancellation and its
 * undo, the re-observe rounds, the project lock) in seconds and without
 * Docker. It is not evidence that dockflow drives Docker correctly: the
 * integration tests (test/integration) are, against the real engine.
 *
 * Faithful where the workflows look: container names (canonical,
 * replacement, retiring) come from src/model/names.ts, observations have the
 * shape of src/model/observed.ts, verification is the real
 * src/plan/verify.ts, revisions are numbered and idempotent per workflow
 * like the ledger's, and the lock's holder is asked of Temporal itself.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { WorkflowClient } from '@temporalio/client';
import type { StackSpec } from '../../src/model/spec';
import type { ObservedProject } from '../../src/model/observed';
import { Revision, type RevisionOperation } from '../../src/model/revision';
import { REPLACEMENT_MARKER, containerName, replacementName, retiringName } from '../../src/model/names';
import { hasHealthcheck } from '../../src/plan/deploy-plan';
import { hostDifferences } from '../../src/plan/verify';
import { ErrorType } from '../../src/errors';
import { createTemporalActivities } from '../../activities/temporal';
import { createNotifyActivities } from '../../activities/notify';
import { createBatchActivities } from '../../activities/batch';
import type { ConvergeInput, RemoveInput, WaitInput } from '../../activities/docker';

export interface FakeContainer {
  id: string;
  project: string;
  name: string;
  service: string;
  number: number;
  configHash: string;
  imageId: string;
  state: 'created' | 'running' | 'exited';
  health: 'starting' | 'healthy' | 'unhealthy' | undefined;
  /** The service has a healthcheck: a started container is "starting" until its wait. */
  healthcheck: boolean;
  exitCode?: number;
  replaces?: string;
  /** Environment of the service when the container was made (RELEASE tells test versions apart). */
  release?: string;
}

export interface FakeCall {
  activity: string;
  /** The container or project the call is about. */
  subject: string;
}

const imageIdOf = (ref: string) => `sha256:${Buffer.from(ref).toString('hex').padEnd(64, '0').slice(0, 64)}`;

export class FakeHost {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: FakeCall[] = [];
  readonly revisions = new Map<string, Revision[]>();
  /** Decides whether a container becomes healthy; default every container does. */
  unhealthy: (c: FakeContainer) => boolean = () => false;
  /** Called before each observation of a project, with how many came before it (0 first): a test makes the host drift here. */
  beforeObserve: (project: string, count: number) => void = () => undefined;
  /** While true for a container's name, its health wait blocks; the wait still notices cancellation. */
  held: (name: string) => boolean = () => false;
  /** The most health waits of replacements (start-first) that ran at once, per service. */
  readonly maxConcurrentWaits = new Map<string, number>();
  readonly waiting = new Map<string, number>();
  private readonly observations = new Map<string, number>();
  /** One-off containers (deploy hooks) by name: how often each was started, and its exit code. */
  readonly oneOffs = new Map<string, { kind: string; service: string; env: Record<string, string>; starts: number; exitCode: number }>();
  /** A one-off's exit code; default: N for a command that says `exit N`, else 0. */
  oneOffExit: (command: string[]) => number = (command) => Number(/\bexit (\d+)/.exec(command.join(' '))?.[1] ?? 0);
  /** Networks and volumes made per project (names), as ensureNetworksAndVolumes leaves them. */
  readonly resources = new Map<string, { networks: ObservedProject['networks']; volumes: ObservedProject['volumes'] }>();
  private nextId = 1;

  constructor(readonly healthDelayMs = 30) {}

  /** Containers of a project by name, sorted: what a test asserts on. */
  project(project: string): FakeContainer[] {
    return [...this.containers.values()].filter((c) => c.project === project).sort((a, b) => a.name.localeCompare(b.name));
  }

  byName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.name === name);
  }

  callsOf(activity: string): string[] {
    return this.calls.filter((c) => c.activity === activity).map((c) => c.subject);
  }

  observe(project: string): ObservedProject {
    return {
      project,
      containers: this.project(project).map((c) => ({
        id: c.id,
        name: c.name,
        service: c.service,
        number: c.number,
        oneoff: false,
        configHash: c.configHash,
        imageId: c.imageId,
        state: c.state,
        health: c.health,
        exitCode: c.exitCode,
        replaces: c.replaces,
      })),
      networks: this.resources.get(project)?.networks ?? [],
      volumes: this.resources.get(project)?.volumes ?? [],
    };
  }

  /** An observation as an activity makes it: the test's drift hook runs first. */
  observeNow(project: string): ObservedProject {
    const count = this.observations.get(project) ?? 0;
    this.observations.set(project, count + 1);
    this.beforeObserve(project, count);
    return this.observe(project);
  }

  record(activity: string, subject: string): void {
    this.calls.push({ activity, subject });
  }

  create(spec: StackSpec, input: ConvergeInput, name: string, replaces?: string): FakeContainer {
    const service = spec.services[input.service];
    const container: FakeContainer = {
      id: `fake${String(this.nextId++).padStart(6, '0')}`,
      project: spec.project,
      name,
      service: input.service,
      number: input.number,
      configHash: input.configHash,
      imageId: input.imageId,
      state: 'created',
      health: undefined,
      healthcheck: hasHealthcheck(service),
      replaces,
      release: service.environment.RELEASE ?? undefined,
    };
    this.containers.set(container.id, container);
    return container;
  }

  start(c: FakeContainer): void {
    c.state = 'running';
    c.health = c.healthcheck ? 'starting' : undefined;
  }

  remove(nameOrId: string): void {
    for (const c of this.containers.values()) if (c.id === nameOrId || c.name === nameOrId) this.containers.delete(c.id);
  }

  /** Blocks while the container is held; a cancellation delivered by heartbeat ends the wait. */
  async hold(name: string): Promise<void> {
    while (this.held(name)) {
      const context = Context.current();
      context.heartbeat();
      if (context.cancellationSignal.aborted) throw new CancelledFailure(`wait for ${name} cancelled`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The fake host's activities, under the names the workflows call them by. */
export function fakeActivities(host: FakeHost, client: () => Promise<WorkflowClient>): Record<string, (...args: never[]) => Promise<unknown>> {
  const { describeLock } = createTemporalActivities({ client });
  const activities = {
    describeLock,
    // No targets: every operation's end asks (workflows/notify.ts) and hears "none".
    ...createNotifyActivities([]),
    async loadProject(): Promise<never> {
      throw ApplicationFailure.nonRetryable('the fake host loads no compose files: pass a spec', ErrorType.invalidSpec);
    },
    async checkPolicy(spec: StackSpec) {
      host.record('checkPolicy', spec.project);
    },
    async checkDataPolicy() {
      host.record('checkDataPolicy', '');
    },
    async ensureImages(input: { spec: StackSpec; services: string[] }) {
      host.record('ensureImages', input.spec.project);
      return Object.fromEntries(input.services.map((s) => [s, imageIdOf(input.spec.services[s].image ?? s)]));
    },
    async ensureImage(input: { spec: StackSpec; service: string }) {
      host.record('ensureImage', input.service);
      return imageIdOf(input.spec.services[input.service].image ?? input.service);
    },
    async imageExists(id: string) {
      return id.startsWith('sha256:');
    },
    async observeProject(project: string) {
      host.record('observeProject', project);
      return host.observeNow(project);
    },
    async ensureNetworksAndVolumes(spec: StackSpec) {
      host.record('ensureNetworksAndVolumes', spec.project);
      host.resources.set(spec.project, {
        networks: Object.entries(spec.networks).filter(([, n]) => !n.external).map(([key, n]) => ({ key, name: n.name, id: `net-${n.name}` })),
        volumes: Object.entries(spec.volumes).filter(([, v]) => !v.external).map(([key, v]) => ({ key, name: v.name })),
      });
    },
    async convergeContainer(input: ConvergeInput) {
      const { spec } = input;
      const canonical = containerName(spec.project, spec.services[input.service], input.number);
      const next = replacementName(canonical, input.configHash);
      host.record('convergeContainer', canonical);
      const slot = host.project(spec.project).filter((c) => c.service === input.service && c.number === input.number);
      const current = slot.find((c) => c.name === canonical);
      if (current && current.configHash !== input.configHash) {
        const replacement = slot.find((c) => c.name === next) ?? host.create(spec, input, next, canonical);
        host.remove(current.id);
        replacement.name = canonical;
      } else if (!current) {
        const replacement = slot.find((c) => c.name === next);
        if (replacement) replacement.name = canonical;
        else host.create(spec, input, canonical);
      }
      const holder = host.byName(canonical)!;
      for (const c of slot) if (c.id !== holder.id && host.containers.has(c.id)) host.remove(c.id);
      if (holder.state !== 'running') host.start(holder);
      return { id: holder.id, name: canonical };
    },
    async startReplacement(input: ConvergeInput) {
      const { spec } = input;
      const canonical = containerName(spec.project, spec.services[input.service], input.number);
      const next = replacementName(canonical, input.configHash);
      host.record('startReplacement', next);
      const replacement = host.byName(next) ?? host.create(spec, input, next, canonical);
      if (replacement.state !== 'running') host.start(replacement);
      return { id: replacement.id, name: next };
    },
    async promoteReplacement(input: { spec: StackSpec; service: string; number: number }) {
      host.record('promoteReplacement', containerName(input.spec.project, input.spec.services[input.service], input.number));
    },
    async swapNames(input: { spec: StackSpec; service: string; number: number; configHash: string }) {
      const canonical = containerName(input.spec.project, input.spec.services[input.service], input.number);
      host.record('swapNames', canonical);
      const retiring = retiringName(canonical, input.configHash);
      const current = host.byName(canonical);
      if (current && current.configHash !== input.configHash) current.name = retiring;
      const replacement = host.byName(replacementName(canonical, input.configHash));
      if (replacement) replacement.name = canonical;
      return host.byName(retiring) ? { retiring } : {};
    },
    async removeContainer(input: RemoveInput) {
      host.record('removeContainer', input.name);
      host.remove(input.id && host.containers.has(input.id) ? input.id : input.name);
    },
    async restartContainer(input: { name: string }) {
      host.record('restartContainer', input.name);
      const c = host.byName(input.name);
      if (c) host.start(c);
    },
    async waitHealthy(input: WaitInput) {
      host.record('waitHealthy', input.name);
      const replacement = input.name.includes(REPLACEMENT_MARKER);
      const running = (host.waiting.get(input.service) ?? 0) + (replacement ? 1 : 0);
      host.waiting.set(input.service, running);
      if (replacement) host.maxConcurrentWaits.set(input.service, Math.max(host.maxConcurrentWaits.get(input.service) ?? 0, running));
      try {
        await host.hold(input.name);
        await new Promise((r) => setTimeout(r, host.healthDelayMs));
        const c = host.byName(input.name);
        if (!c || c.state !== 'running') {
          throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is not running`, ErrorType.unhealthy);
        }
        if (host.unhealthy(c)) {
          c.health = 'unhealthy';
          throw ApplicationFailure.nonRetryable(`service ${input.service}: container ${input.name} is unhealthy (fake host)`, ErrorType.unhealthy);
        }
        c.health = 'healthy';
      } finally {
        if (replacement) host.waiting.set(input.service, (host.waiting.get(input.service) ?? 1) - 1);
      }
    },
    async waitCompleted(input: WaitInput) {
      host.record('waitCompleted', input.name);
      const c = host.byName(input.name);
      if (c) {
        c.state = 'exited';
        c.exitCode = 0;
      }
    },
    async checkContainer(input: { service: string; name: string }) {
      host.record('checkContainer', input.name);
      const c = host.byName(input.name);
      if (!c || c.state !== 'running') throw ApplicationFailure.nonRetryable(`service ${input.service}: ${input.name} is not running`, ErrorType.unhealthy);
    },
    async nudgeService(input: { service: string }) {
      host.record('nudgeService', input.service);
      return [];
    },
    async verifyProject(input: { spec: StackSpec; imageIds: Record<string, string> }) {
      host.record('verifyProject', input.spec.project);
      return hostDifferences(input.spec, input.imageIds, host.observeNow(input.spec.project));
    },
    async downProject(input: { project: string }) {
      host.record('downProject', input.project);
      const removed = host.project(input.project).map((c) => c.name);
      for (const name of removed) host.remove(name);
      return { removed };
    },
    async getRevision(input: { project: string; number?: number }) {
      const all = host.revisions.get(input.project) ?? [];
      return input.number === undefined ? all.at(-1) : all.find((r) => r.number === input.number);
    },
    async listRevisions(project: string) {
      return host.revisions.get(project) ?? [];
    },
    async recordRevision(input: {
      project: string;
      operation: RevisionOperation;
      spec: StackSpec;
      imageIds: Record<string, string>;
      changed: string[];
      restoredFrom?: number;
      workflowId: string;
    }) {
      host.record('recordRevision', input.project);
      const all = host.revisions.get(input.project) ?? [];
      const already = all.find((r) => r.workflowId === input.workflowId);
      if (already) return already;
      const revision = Revision.parse({
        project: input.project,
        number: (all.at(-1)?.number ?? 0) + 1,
        createdAt: new Date().toISOString(),
        operation: input.operation,
        workflowId: input.workflowId,
        spec: input.spec,
        images: Object.fromEntries(Object.entries(input.imageIds).map(([s, id]) => [s, { ref: input.spec.services[s]?.image ?? id, id }])),
        changed: input.changed,
        ...(input.restoredFrom !== undefined ? { restoredFrom: input.restoredFrom } : {}),
        links: { backups: [], migrations: [] },
      });
      host.revisions.set(input.project, [...all, revision]);
      return revision;
    },
    async linkToRevision() {
      host.record('linkToRevision', '');
    },
    async startOneOff(input: { name: string; kind: string; service: string; command: string[]; env?: Record<string, string> }) {
      host.record('startOneOff', input.name);
      const known = host.oneOffs.get(input.name);
      // Started once, as the real activity: a retried attempt only re-attaches.
      if (!known) host.oneOffs.set(input.name, { kind: input.kind, service: input.service, env: input.env ?? {}, starts: 1, exitCode: host.oneOffExit(input.command) });
      return { id: input.name, name: input.name, startedNow: !known };
    },
    async waitOneOff(input: { name: string }) {
      host.record('waitOneOff', input.name);
      const exitCode = host.oneOffs.get(input.name)?.exitCode ?? 0;
      return { exited: true, exitCode, lines: [], omitted: 0, tail: `fake output of ${input.name}` };
    },
    async stopOneOff(input: { name: string }) {
      host.record('stopOneOff', input.name);
    },
  };
  // The batched steps run the fake's own single steps, as the worker's run the real ones.
  return { ...activities, ...createBatchActivities(activities) };
}
