/**
 * Deterministic names. Every object an activity creates has a name derived
 * from the spec and its position, so a retried attempt finds what an earlier
 * attempt made instead of making a second one.
 */
import { z } from 'zod';
import { PROJECT_NAME_MAX_LENGTH, PROJECT_NAME_RULE, isProjectName } from './project-name';

export { containerName } from './container-name';

/**
 * Name of the replacement container while a recreate is in flight. It depends
 * on the desired config hash so that a retry finds the replacement it already
 * created, and a later deploy with another hash never adopts a stale one.
 */
export function replacementName(canonicalName: string, configHash: string): string {
  return `${canonicalName}_dockflow-next-${configHash.slice(0, 12)}`;
}

export const REPLACEMENT_MARKER = '_dockflow-next-';

/** Name the old container steps aside to while it drains, so the replacement can take the canonical name. */
export function retiringName(canonicalName: string, configHash: string): string {
  return `${canonicalName}_dockflow-old-${configHash.slice(0, 12)}`;
}

/** Container numbers a service should have: 1..replicas (compose numbering). */
export function desiredNumbers(replicas: number): number[] {
  return Array.from({ length: replicas }, (_, i) => i + 1);
}

/**
 * The replica numbers a service's containers take on this host: the slots of
 * one host's part when its replicas spread over several hosts, else 1..replicas.
 */
export function serviceNumbers(service: { deploy: { replicas: number; slots?: number[] } }): number[] {
  return service.deploy.slots ?? desiredNumbers(service.deploy.replicas);
}

// The rule itself lives in a module without zod, which the CLI's option parsers load at every start.
export { PROJECT_NAME_PATTERN, PROJECT_NAME_RULE, PROJECT_NAME_MAX_LENGTH, isProjectName } from './project-name';

/** The rule as a zod schema, for every workflow input and the stack spec: the message names the rule. */
export const ProjectName = z.string().refine(isProjectName, `not a valid project name: ${PROJECT_NAME_RULE} (at most ${PROJECT_NAME_MAX_LENGTH} characters)`);

/** Throws (a plain Error; callers wrap it in their own non-retryable type) unless `name` follows the rule. */
export function assertProjectName(name: unknown, where = 'project'): string {
  if (!isProjectName(name)) throw new Error(`${where}: ${JSON.stringify(name)} is not a valid project name: ${PROJECT_NAME_RULE}`);
  return name;
}
