/** Compose loader on stacks modelled on the ones our users run (test/fixtures/compose/). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ServiceSpec } from '../../src/model/spec';
import { FIXTURES, HOME, load, throwsCompose } from '../fixtures/compose/support';

const common = {
  expose: [],
  volumes: [],
  tmpfs: [],
  profiles: [],
  labels: {},
  readOnly: false,
  capAdd: [],
  capDrop: [],
  securityOpt: [],
  extraHosts: [],
  extensions: {},
} satisfies Partial<ServiceSpec>;

describe('Gantry: built backend and frontend, ChromaDB, loopback ports, external proxy and internal backend networks', () => {
  const dir = path.join(FIXTURES, 'gantry');
  const base = path.join(dir, 'docker-compose.yml');
  const prod = path.join(dir, 'docker-compose.prod.yml');
  const dotenv = {
    GANTRY_VERSION: '1.4.0',
    OPENAI_API_KEY: 'sk-test-123',
    GANTRY_SECRET: 'multi word',
    GANTRY_HOST: 'gantry.example.com',
    PUBLIC_URL: 'https://gantry.example.com',
    CHROMA_TIMEOUT: '30',
  };

  it('development: docker-compose.yml with .env', () => {
    const { spec, warnings } = load(dir);
    assert.deepEqual(warnings, []);
    assert.equal(spec.project, 'gantry');
    assert.deepEqual(spec.composeFiles, [base]);
    assert.deepEqual(Object.keys(spec.services), ['backend', 'frontend', 'chromadb']);

    const backend: ServiceSpec = {
      ...common,
      name: 'backend',
      image: 'ghcr.io/gantry/backend:1.4.0',
      build: { context: path.join(dir, 'backend'), dockerfile: 'Dockerfile.prod', target: 'runtime', args: { PYTHON_VERSION: '3.12', GANTRY_VERSION: '1.4.0' } },
      pullPolicy: 'missing',
      environment: { ...dotenv, CHROMA_HOST: 'chromadb', CHROMA_PORT: '8080', LOG_LEVEL: 'info' },
      ports: [{ target: 8000, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' }],
      networks: { backend: { aliases: [] }, proxy: { aliases: [] } },
      dependsOn: { chromadb: { condition: 'service_healthy', restart: false, required: true } },
      healthcheck: { test: ['CMD', 'curl', '-f', 'http://localhost:8000/health'], intervalMs: 30_000, timeoutMs: 10_000, retries: 3, startPeriodMs: 40_000, disable: false },
      restart: 'unless-stopped',
      deploy: { replicas: 1, resources: {} },
      extensions: { 'x-dockflow': { update: { drain: '2s' } } },
    };
    assert.deepEqual(spec.services.backend, backend);

    assert.deepEqual(spec.services.frontend, {
      ...common,
      name: 'frontend',
      image: 'gantry-frontend',
      build: { context: path.join(dir, 'frontend'), dockerfile: 'Dockerfile', args: {} },
      pullPolicy: 'build',
      environment: { PUBLIC_API_URL: 'https://gantry.example.com/api', NODE_ENV: 'production' },
      ports: [{ target: 3000, published: '3000', hostIp: '127.0.0.1', protocol: 'tcp' }],
      networks: { proxy: { aliases: [] } },
      dependsOn: { backend: { condition: 'service_started', restart: false, required: true } },
      restart: 'unless-stopped',
      deploy: { replicas: 1, resources: {} },
    });

    assert.deepEqual(spec.services.chromadb, {
      ...common,
      name: 'chromadb',
      image: 'chromadb/chroma:0.5.0',
      pullPolicy: 'missing',
      environment: { IS_PERSISTENT: 'TRUE', CHROMA_SERVER_HTTP_PORT: '8080', ANONYMIZED_TELEMETRY: 'false' },
      ports: [],
      expose: ['8080'],
      volumes: [{ type: 'volume', source: 'chromadb-data', target: '/chroma/chroma', readOnly: false }],
      networks: { backend: { aliases: ['vectors'] } },
      dependsOn: {},
      healthcheck: { test: ['CMD-SHELL', 'curl -f http://localhost:8080/api/v1/heartbeat || exit 1'], intervalMs: 10_000, timeoutMs: 5000, retries: 5, disable: false },
      restart: 'unless-stopped',
      deploy: { replicas: 1, resources: {} },
    });

    assert.deepEqual(spec.networks, {
      backend: { name: 'gantry_backend', external: false, driverOpts: {}, internal: true, labels: {} },
      proxy: { name: 'proxy-net', external: true, driverOpts: {}, internal: false, labels: {} },
    });
    assert.deepEqual(spec.volumes, { 'chromadb-data': { name: 'gantry_chromadb-data', external: false, driverOpts: {}, labels: {} } });
    assert.deepEqual(spec.extensions, { 'x-restart': { restart: 'unless-stopped' } });
  });

  it('production: docker-compose.prod.yml over it', () => {
    const { spec, warnings } = load(dir, { files: [base, prod] });
    assert.deepEqual(warnings, []);
    assert.deepEqual(spec.composeFiles, [base, prod]);
    const { backend, frontend, chromadb } = spec.services;
    assert.equal(backend.image, 'ghcr.io/gantry/backend:1.4.0');
    assert.deepEqual(backend.environment, { ...dotenv, CHROMA_HOST: 'chromadb', CHROMA_PORT: '8080', LOG_LEVEL: 'warning', SENTRY_DSN: '' });
    assert.deepEqual(backend.ports, [], '!reset removed the loopback port');
    assert.deepEqual(backend.healthcheck, { test: ['CMD', 'curl', '-f', 'http://localhost:8000/health'], intervalMs: 15_000, timeoutMs: 10_000, retries: 3, startPeriodMs: 40_000, disable: false });
    assert.deepEqual(backend.deploy, {
      replicas: 2,
      resources: { limits: { cpus: 1.5, memoryBytes: 1024 ** 3 } },
      updateConfig: { order: 'start-first', parallelism: 1, delayMs: 5000, failureAction: 'rollback' },
    });
    assert.deepEqual(frontend.ports, []);
    assert.deepEqual(frontend.labels, { 'traefik.enable': 'true', 'traefik.http.routers.gantry.rule': 'Host(`gantry.example.com`)' });
    assert.deepEqual(chromadb.ports, [{ target: 8080, published: '8081', hostIp: '127.0.0.1', protocol: 'tcp' }]);
    assert.deepEqual(chromadb.deploy.resources, { limits: { memoryBytes: 2 * 1024 ** 3 } });
    assert.deepEqual(Object.keys(spec.networks), ['backend', 'proxy']);
  });

  it('the shell environment wins over .env for interpolation, while env_file values stay as written', () => {
    const { spec } = load(dir, { files: [base, prod], environment: { GANTRY_VERSION: '2.0.0', LOG_LEVEL: 'debug', SENTRY_DSN: 'https://sentry' } });
    assert.equal(spec.services.backend.image, 'ghcr.io/gantry/backend:2.0.0');
    assert.equal(spec.services.backend.build?.args.GANTRY_VERSION, '2.0.0');
    assert.equal(spec.services.backend.environment.GANTRY_VERSION, '1.4.0');
    assert.equal(spec.services.backend.environment.LOG_LEVEL, 'warning', 'the override file sets it literally');
    assert.equal(spec.services.backend.environment.SENTRY_DSN, 'https://sentry');
  });

  it('production refuses to run without a release', () => {
    throwsCompose(
      () => load(dir, { files: [base, prod], envFiles: [] }),
      'docker-compose.prod.yml: services.backend.image: required variable GANTRY_VERSION is missing a value: set GANTRY_VERSION for production',
    );
  });
});

describe('Nostream: health-gated relay, one-shot migration, profile-gated Dassie, hardened container', () => {
  const dir = path.join(FIXTURES, 'nostream');
  const dbEnv = { DB_HOST: 'nostream-db', DB_PORT: '5432', DB_USER: 'nostr_ts_relay', DB_PASSWORD: 'pw' };

  it('needs DB_PASSWORD', () => {
    throwsCompose(() => load(dir), 'docker-compose.yml: x-db-env.DB_PASSWORD: required variable DB_PASSWORD is missing a value: set DB_PASSWORD in .env');
  });

  it('loads without the dassie profile', () => {
    const { spec, warnings } = load(dir, { environment: { DB_PASSWORD: 'pw', SECRET: 'from-shell' } });
    assert.deepEqual(warnings, []);
    assert.equal(spec.project, 'nostream');
    assert.deepEqual(Object.keys(spec.services), ['nostream', 'nostream-migrate', 'nostream-db', 'nostream-cache']);

    assert.deepEqual(spec.services.nostream, {
      ...common,
      name: 'nostream',
      image: 'nostream-nostream',
      build: { context: dir, dockerfile: 'Dockerfile', args: {} },
      pullPolicy: 'build',
      containerName: 'nostream',
      environment: { ...dbEnv, REDIS_HOST: 'nostream-cache', REDIS_PASSWORD: 'nostr_ts_relay', SECRET: 'from-shell', RELAY_PORT: '8008' },
      user: '1000:1000',
      volumes: [
        { type: 'bind', source: path.join(dir, 'data'), target: '/app/data', readOnly: false, createHostPath: true },
        { type: 'bind', source: `${HOME}/.ssh`, target: '/root/.ssh', readOnly: true, createHostPath: true },
        { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsSizeBytes: 64 * 1024 ** 2, tmpfsMode: 0o1777 },
      ],
      tmpfs: ['/run'],
      readOnly: true,
      capDrop: ['ALL'],
      capAdd: ['NET_BIND_SERVICE'],
      securityOpt: ['no-new-privileges:true'],
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
      ports: [{ target: 8008, published: '8008', hostIp: '127.0.0.1', protocol: 'tcp' }],
      networks: { nostream: { aliases: [] } },
      dependsOn: {
        'nostream-db': { condition: 'service_healthy', restart: false, required: true },
        'nostream-cache': { condition: 'service_healthy', restart: false, required: true },
        'nostream-migrate': { condition: 'service_completed_successfully', restart: false, required: true },
      },
      deploy: { replicas: 1, resources: { limits: { cpus: 0.5, memoryBytes: 512 * 1024 ** 2 } } },
      restart: 'unless-stopped',
      stopGracePeriodMs: 90_000,
      stopSignal: 'SIGINT',
    });

    assert.deepEqual(spec.services['nostream-migrate'], {
      ...common,
      name: 'nostream-migrate',
      image: 'nostream-nostream',
      pullPolicy: 'missing',
      command: ['npm', 'run', 'db:migrate'],
      workingDir: '/code',
      environment: dbEnv,
      ports: [],
      volumes: [{ type: 'bind', source: path.join(dir, 'migrations'), target: '/code/migrations', readOnly: true, createHostPath: true }],
      networks: { nostream: { aliases: [] } },
      dependsOn: { 'nostream-db': { condition: 'service_healthy', restart: false, required: true } },
      restart: 'no',
      deploy: { replicas: 1, resources: {} },
    });

    assert.deepEqual(spec.services['nostream-db'], {
      ...common,
      name: 'nostream-db',
      image: 'postgres:16',
      pullPolicy: 'missing',
      environment: { POSTGRES_DB: 'nostr_ts_relay', POSTGRES_USER: 'nostr_ts_relay', POSTGRES_PASSWORD: 'pw' },
      ports: [],
      volumes: [{ type: 'volume', source: 'nostream-db', target: '/var/lib/postgresql/data', readOnly: false }],
      networks: { nostream: { aliases: [] } },
      dependsOn: {},
      healthcheck: { test: ['CMD-SHELL', 'pg_isready -U nostr_ts_relay'], intervalMs: 5000, timeoutMs: 5000, retries: 5, startPeriodMs: 10_000, disable: false },
      deploy: { replicas: 1, resources: { limits: { memoryBytes: 1024 ** 3 } } },
      restart: 'unless-stopped',
    });

    assert.deepEqual(spec.services['nostream-cache'], {
      ...common,
      name: 'nostream-cache',
      image: 'redis:7.0.5-alpine3.16',
      pullPolicy: 'missing',
      command: ['redis-server', '--loglevel', 'warning', '--requirepass', 'nostr_ts_relay', '--save', ''],
      environment: { REDIS_PASSWORD: 'nostr_ts_relay' },
      ports: [],
      tmpfs: ['/data'],
      networks: { nostream: { aliases: [] } },
      dependsOn: {},
      healthcheck: { test: ['CMD-SHELL', 'redis-cli -a "${REDIS_PASSWORD}" ping | grep PONG'], intervalMs: 1000, timeoutMs: 5000, retries: 5, disable: false },
      deploy: { replicas: 1, resources: {} },
      restart: 'always',
    });

    assert.deepEqual(spec.networks, { nostream: { name: 'nostream', external: false, driverOpts: {}, internal: false, labels: {} } });
    assert.deepEqual(spec.volumes, { 'nostream-db': { name: 'nostream_nostream-db', external: false, driverOpts: {}, labels: {} } }, 'dassie-data is unused without the profile');
    assert.deepEqual(spec.extensions, { 'x-db-env': { ...dbEnv, DB_PORT: 5432 } }, 'extensions are kept verbatim (interpolated)');
  });

  it('with --profile dassie the relay also waits for Dassie', () => {
    const { spec } = load(dir, { environment: { DB_PASSWORD: 'pw', REDIS_PASSWORD: 'r3dis' }, profiles: ['dassie'] });
    assert.deepEqual(Object.keys(spec.services), ['nostream', 'nostream-migrate', 'nostream-db', 'nostream-cache', 'dassie']);
    assert.deepEqual(spec.services.nostream.dependsOn.dassie, { condition: 'service_healthy', restart: false, required: false });
    assert.equal('SECRET' in spec.services.nostream.environment, false, 'a bare variable unset in the shell is left out');
    assert.deepEqual(spec.services['nostream-cache'].command, ['redis-server', '--loglevel', 'warning', '--requirepass', 'r3dis', '--save', '']);
    assert.deepEqual(spec.services.dassie.profiles, ['dassie']);
    assert.deepEqual(spec.services.dassie.healthcheck, { test: ['CMD', 'wget', '-q', '--spider', 'http://localhost/health'], intervalMs: 10_000, disable: false });
    assert.deepEqual(spec.volumes['dassie-data'], { name: 'nostream_dassie-data', external: false, driverOpts: {}, labels: {} });
  });
});
