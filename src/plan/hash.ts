/**
 * The config hash decides whether a container must be recreated. It is a
 * SHA-256 over the canonical JSON of everything that shapes the container and
 * nothing that does not: replica count, depends_on, profiles, update/rollback
 * settings and x-* extensions can change without touching running containers.
 * The resolved image ID is part of it, so a rebuilt or re-pulled tag recreates.
 *
 * Pure JavaScript hashing (no node:crypto) because workflows call it.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import type { ServiceSpec, StackSpec } from '../model/spec';

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The part of a service that determines its containers' configuration. */
export function hashInput(stack: StackSpec, service: ServiceSpec, imageId: string): unknown {
  const { deploy, dependsOn: _dependsOn, profiles: _profiles, extensions: _extensions, build: _build, pullPolicy: _pullPolicy, ...shape } = service;
  return {
    service: shape,
    resources: deploy.resources,
    restartPolicy: deploy.restartPolicy,
    deployLabels: deploy.labels,
    imageId,
    // A network's Docker name is what the container attaches to.
    networks: Object.keys(service.networks)
      .sort()
      .map((key) => stack.networks[key]?.name ?? key),
    volumes: service.volumes
      .filter((m) => m.type === 'volume' && m.source !== undefined)
      .map((m) => stack.volumes[m.source as string]?.name ?? m.source),
  };
}

export function configHash(stack: StackSpec, service: ServiceSpec, imageId: string): string {
  return sha256Hex(canonicalJson(hashInput(stack, service, imageId)));
}
