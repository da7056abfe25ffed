/**
 * What an update asks, applied to the current revision's spec: the service's
 * new image and replica count, checked before anything is touched. Shared
 * by the update on one host (workflows/update.ts) and across hosts
 * (workflows/hosts.ts). Pure apart from its non-retryable failures.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { UpdateInput } from '../src/model/input';
import type { Revision } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import type { z } from 'zod';
import { ErrorType } from '../src/errors';
import { containerNameReplicasProblem, impossibleSpecProblems } from '../src/model/feasibility';

export function updatedSpec(current: Revision, input: Pick<z.output<typeof UpdateInput>, 'project' | 'service' | 'image' | 'scale'>): StackSpec {
  // The workflow sandbox has no structuredClone; the spec is plain JSON anyway.
  const spec: StackSpec = JSON.parse(JSON.stringify(current.spec));
  // Own keys only: "constructor" or "__proto__" would otherwise find Object's members and change them.
  const service = Object.hasOwn(spec.services, input.service) ? spec.services[input.service] : undefined;
  if (!service) {
    throw ApplicationFailure.nonRetryable(
      `project ${input.project} has no service ${input.service} (services: ${Object.keys(spec.services).sort().join(', ')})`,
      ErrorType.invalidSpec,
    );
  }
  // A replica count Docker cannot give (container_name) fails here, before anything is touched.
  const scaleProblem = input.scale !== undefined ? containerNameReplicasProblem(input.service, service.containerName, input.scale) : undefined;
  if (scaleProblem) throw ApplicationFailure.nonRetryable(`invalid update input:\ninput.scale: ${scaleProblem}`, ErrorType.invalidSpec);
  if (input.image !== undefined) {
    service.image = input.image;
    delete service.build;
  }
  if (input.scale !== undefined) service.deploy = { ...service.deploy, replicas: input.scale };
  // A revision recorded before these checks existed may itself be impossible; deploy fixed compose files instead.
  const impossible = impossibleSpecProblems(spec);
  if (impossible.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `revision ${current.number} of ${input.project} cannot be true on a host; deploy corrected compose files:\n${impossible.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n')}`,
      ErrorType.invalidSpec,
    );
  }
  return spec;
}
