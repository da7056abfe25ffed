/**
 * Where an operation across hosts sends each host's steps, and where the
 * stack's services go: shared by the operations (workflows/hosts.ts), the
 * data operations (workflows/data-hosts.ts) and the status read
 * (workflows/host-status.ts).
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { hostTaskQueue, type HostInfo } from '../src/model/hosts';
import type { StackSpec } from '../src/model/spec';
import { PlacementError, placeServices, type Placement } from '../src/plan/placement';
import { ErrorType } from '../src/errors';
import { HOST_SILENCE_SECONDS, routeTo, type Route } from './routes';

/** Where one host's steps go, for one operation: its queue, and how long its worker may stay silent. */
export type RouteOf = (host: string) => Route;

export function router(silenceSeconds: number | undefined): RouteOf {
  return (host) => routeTo(hostTaskQueue(workflowInfo().taskQueue, host), host, silenceSeconds ?? HOST_SILENCE_SECONDS);
}

/** Placement, or a non-retryable failure naming the service and the key, before anything starts. */
export function place(spec: StackSpec, hosts: HostInfo[], defaultHost: string | undefined): Placement {
  try {
    return placeServices(spec, hosts, defaultHost);
  } catch (err) {
    if (err instanceof PlacementError) throw ApplicationFailure.nonRetryable(`project ${spec.project}: ${err.message}`, ErrorType.invalidSpec);
    throw err;
  }
}

export function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

