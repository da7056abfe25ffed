/**
 * The last check before an operation reports success and the ledger records
 * a revision: does the host hold what the revision will claim? Per service,
 * as many containers as replicas, under the canonical names, each with the
 * desired config hash and image ID, and running (a one-shot job may have
 * exited 0 instead): a container stopped from outside after the last
 * converge (a daemon restart, a `docker stop`) is not what the revision
 * claims either. One-off containers (migrations, helpers,
 * `docker compose run`) are not replicas and are left out. Services that are
 * not in the spec (orphans kept without --remove-orphans) are not the
 * revision's business.
 *
 * Pure: the verifying activity and its tests call it with an observation.
 */
import type { StackSpec } from '../model/spec';
import type { ObservedProject } from '../model/observed';
import { containerName, serviceNumbers } from '../model/names';
import { configHash } from './hash';
import { oneShotServices, runsAsDesired } from './deploy-plan';

export interface HostDifference {
  service: string;
  /** What differs, for a person: "2 containers, the revision says 3 replicas". */
  message: string;
}

export function hostDifferences(spec: StackSpec, imageIds: Record<string, string>, observed: ObservedProject): HostDifference[] {
  const differences: HostDifference[] = [];
  const replicas = observed.containers.filter((c) => !c.oneoff);
  const oneShots = oneShotServices(spec);
  for (const name of Object.keys(spec.services).sort()) {
    const service = spec.services[name];
    const imageId = imageIds[name];
    const hash = imageId === undefined ? undefined : configHash(spec, service, imageId);
    const containers = replicas.filter((c) => c.service === name);
    const differ = (message: string) => differences.push({ service: name, message: `service ${name}: ${message}` });
    // A spread service's part on one host wants its own slots only (src/plan/placement.ts).
    const numbers = serviceNumbers(service);
    const wanted = numbers.length;
    if (containers.length !== wanted) {
      const names = containers.map((c) => c.name).sort();
      differ(`${containers.length} container(s) on the host${names.length ? ` (${names.join(', ')})` : ''}, the spec says ${wanted} replica(s)`);
    }
    const canonical = [...new Set(numbers.map((n) => containerName(spec.project, service, n)))];
    const missing = canonical.filter((n) => !containers.some((c) => c.name === n));
    if (missing.length > 0 && containers.length === wanted) differ(`no container named ${missing.join(', ')}`);
    for (const c of containers) {
      if (imageId !== undefined && c.imageId !== imageId) differ(`${c.name} runs image ${short(c.imageId)}, the spec resolves to ${short(imageId)}`);
      else if (hash !== undefined && c.configHash !== hash) differ(`${c.name} has config hash ${short(c.configHash ?? '(none)')}, the spec's is ${short(hash)}`);
      if (!runsAsDesired(c, oneShots.has(name))) {
        differ(`${c.name} is ${c.state}${c.exitCode !== undefined ? ` (exit code ${c.exitCode})` : ''}, not running${oneShots.has(name) ? ' or completed' : ''}`);
      }
    }
  }
  return differences;
}

function short(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
