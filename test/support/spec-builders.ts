/**
 * Resolved specs for unit tests of pure logic: a service with every field at
 * the value the loader gives a service that only says `image:`, so a test
 * spells out only what it is about.
 */
import type { ServiceSpec } from '../../src/model/spec';

export function serviceSpec(name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    image: 'app:1',
    pullPolicy: 'missing',
    environment: {},
    ports: [],
    expose: [],
    volumes: [],
    tmpfs: [],
    networks: { default: { aliases: [] } },
    dependsOn: {},
    restart: 'no',
    profiles: [],
    labels: {},
    readOnly: false,
    capAdd: [],
    capDrop: [],
    securityOpt: [],
    deploy: { replicas: 1, resources: {} },
    extraHosts: [],
    extensions: {},
    ...extra,
  };
}
