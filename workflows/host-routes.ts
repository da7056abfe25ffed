/**
 * Where an operation across hosts sends each host's steps, and where the
 * stack's services go: shared by the operations (workflows/hosts.ts), the
 * data operations (workflows/data-hosts.ts) and the status read
 * (workflows/host-status.ts).
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { hostTaskQueue, type HostInfo } from '../src/model/hosts';
import type { StackSpec } from '../src/model/spec';
import { PlacementError, checkOneHost, placeServices, recordedPlacement, type Placement } from '../src/plan/placement';
import { ErrorType } from '../src/errors';
import { HOST_SILENCE_SECONDS, routeTo, type Route } from './routes';
import { isPatched } from './patches';

/**
 * patched() ID of spreading a service's replicas over the hosts that qualify
 * (src/plan/placement.ts); asked only when a placement spreads, so every
 * operation whose stack does not spread issues the commands it always did.
 */
export const SPREAD_PATCH = 'dockflow-spread-replicas';

/** Where one host's steps go, for one operation: its queue, and how long its worker may stay silent. */
export type RouteOf = (host: string) => Route;

export function router(silenceSeconds: number | undefined): RouteOf {
  return (host) => routeTo(hostTaskQueue(workflowInfo().taskQueue, host), host, silenceSeconds ?? HOST_SILENCE_SECONDS);
}

/**
 * Placement, or a non-retryable failure naming the service and the key, before anything starts.
 * A run recorded before spread existed placed every service on one host: on replay it still does.
 */
export function place(spec: StackSpec, hosts: HostInfo[], defaultHost: string | undefined): Placement {
  try {
    const placement = placeServices(spec, hosts, defaultHost);
    return placement.spread && !isPatched(SPREAD_PATCH) ? placeServices(spec, hosts, defaultHost, { spread: false }) : placement;
  } catch (err) {
    if (err instanceof PlacementError) throw ApplicationFailure.nonRetryable(`project ${spec.project}: ${err.message}`, ErrorType.invalidSpec);
    throw err;
  }
}

/** The placement a revision recorded (with the spread of its replicas), for `spec`: the revision's, or an update of it. */
export function placementOf(spec: StackSpec, revision: { project: string; placement?: Record<string, string>; spread?: Record<string, string[]> }): Placement | undefined {
  if (!revision.placement) return undefined;
  try {
    return recordedPlacement(spec, revision.placement, revision.spread);
  } catch (err) {
    if (err instanceof PlacementError) throw ApplicationFailure.nonRetryable(`project ${revision.project}: ${err.message}`, ErrorType.invalidSpec);
    throw err;
  }
}

/** On a single host: max_replicas_per_node caps the replicas, as on a one-node swarm (pure; a spec without it passes). */
export function placeOnOneHost(spec: StackSpec): void {
  try {
    checkOneHost(spec);
  } catch (err) {
    if (err instanceof PlacementError) throw ApplicationFailure.nonRetryable(`project ${spec.project}: ${err.message}`, ErrorType.invalidSpec);
    throw err;
  }
}

export function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

