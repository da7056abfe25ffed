/**
 * A stack reduced to one service and the networks and volumes it uses: what a
 * per-container activity needs, so workflow history does not carry the whole
 * stack in every activity input.
 */
import type { StackSpec } from './spec';

export function serviceSlice(spec: StackSpec, serviceName: string): StackSpec {
  const service = spec.services[serviceName];
  if (!service) throw new Error(`service ${serviceName} is not in project ${spec.project}`);
  const networks = Object.fromEntries(Object.keys(service.networks).filter((k) => k in spec.networks).map((k) => [k, spec.networks[k]]));
  const volumeKeys = new Set(service.volumes.filter((m) => m.type === 'volume' && m.source !== undefined).map((m) => m.source as string));
  const volumes = Object.fromEntries([...volumeKeys].filter((k) => k in spec.volumes).map((k) => [k, spec.volumes[k]]));
  return { ...spec, services: { [serviceName]: service }, networks, volumes, extensions: {} };
}
