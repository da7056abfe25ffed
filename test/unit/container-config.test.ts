/** The pure builder from spec to Docker create body, asserted as data. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bindsKeepingVolumes,
  containerCreateOptions,
  extraNetworks,
  inheritedAnonymousVolumes,
  isAnonymousVolumeName,
  networkIpam,
  restartPolicyConfig,
  volumeCreateOptions,
  type ContainerMount,
} from '../../src/docker/container-config';
import type { ServiceSpec, StackSpec } from '../../src/model/spec';

const api: ServiceSpec = {
  name: 'api',
  image: 'shop-api',
  pullPolicy: 'missing',
  command: ['uvicorn', 'main:app'],
  environment: { DB: 'postgres', TOKEN: 's3cret' },
  ports: [
    { target: 8000, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' },
    { target: 9000, protocol: 'udp' },
  ],
  expose: ['8080'],
  volumes: [
    { type: 'volume', source: 'data', target: '/data', readOnly: false },
    { type: 'bind', source: '/srv/shop/config', target: '/config', readOnly: true },
    { type: 'tmpfs', target: '/run', readOnly: false, tmpfsSizeBytes: 1048576 },
  ],
  tmpfs: ['/tmp:size=64m'],
  networks: { backend: { aliases: ['api.internal'] }, default: { aliases: [] } },
  dependsOn: {},
  healthcheck: { test: ['CMD-SHELL', 'wget -q -O /dev/null http://localhost:8000/health'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 10000, disable: false },
  restart: 'unless-stopped',
  profiles: [],
  labels: { team: 'core' },
  user: '1000:1000',
  readOnly: true,
  capAdd: ['NET_BIND_SERVICE'],
  capDrop: ['ALL'],
  securityOpt: ['no-new-privileges:true'],
  logging: { driver: 'json-file', options: { 'max-size': '10m' } },
  deploy: { replicas: 1, resources: { limits: { cpus: 0.5, memoryBytes: 536870912 } } },
  stopGracePeriodMs: 20000,
  stopSignal: 'SIGTERM',
  extraHosts: ['host.docker.internal:host-gateway'],
  extensions: {},
};

const spec: StackSpec = {
  project: 'shop',
  workingDir: '/srv/shop',
  composeFiles: ['/srv/shop/docker-compose.yml'],
  services: { api },
  networks: {
    backend: { name: 'shop_backend', external: false, driverOpts: {}, internal: true, labels: {} },
    default: { name: 'shop_default', external: false, driverOpts: {}, internal: false, labels: {} },
  },
  volumes: { data: { name: 'shop_data', external: false, driverOpts: {}, labels: {} } },
  extensions: {},
};

describe('containerCreateOptions', () => {
  const body = containerCreateOptions(spec, api, { project: 'shop', service: 'api', number: 1, configHash: 'abc', imageId: 'sha256:img', operation: 'deploy-shop-1' }, 'shop-api-1');

  it('pins the resolved image ID and carries compose and dockflow labels', () => {
    assert.equal(body.Image, 'sha256:img');
    assert.equal(body.name, 'shop-api-1');
    assert.equal(body.Labels?.['com.docker.compose.project'], 'shop');
    assert.equal(body.Labels?.['com.docker.compose.service'], 'api');
    assert.equal(body.Labels?.['com.docker.compose.container-number'], '1');
    assert.equal(body.Labels?.['com.docker.compose.oneoff'], 'False');
    assert.equal(body.Labels?.['io.dockflow.config-hash'], 'abc');
    assert.equal(body.Labels?.team, 'core');
  });

  it('maps ports, mounts, healthcheck and hardening options', () => {
    assert.deepEqual(body.Env, ['DB=postgres', 'TOKEN=s3cret']);
    assert.deepEqual(body.ExposedPorts, { '8000/tcp': {}, '9000/udp': {}, '8080/tcp': {} });
    assert.deepEqual(body.HostConfig?.PortBindings, { '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: '8000' }], '9000/udp': [{ HostIp: '', HostPort: '' }] });
    assert.deepEqual(body.HostConfig?.Binds, ['shop_data:/data:rw', '/srv/shop/config:/config:ro']);
    assert.deepEqual(body.HostConfig?.Tmpfs, { '/run': 'size=1048576', '/tmp': 'size=64m' });
    assert.deepEqual(body.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O /dev/null http://localhost:8000/health'], Interval: 5e9, Timeout: 2e9, Retries: 3, StartPeriod: 1e10 });
    assert.deepEqual(body.HostConfig?.RestartPolicy, { Name: 'unless-stopped' });
    assert.equal(body.HostConfig?.ReadonlyRootfs, true);
    assert.deepEqual(body.HostConfig?.CapDrop, ['ALL']);
    assert.equal(body.HostConfig?.NanoCpus, 500000000);
    assert.equal(body.HostConfig?.Memory, 536870912);
    assert.deepEqual(body.HostConfig?.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m' } });
    assert.equal(body.StopTimeout, 20);
    assert.equal(body.User, '1000:1000');
  });

  it('attaches the first network at create with the service alias, the rest afterwards', () => {
    assert.equal(body.HostConfig?.NetworkMode, 'shop_backend');
    assert.deepEqual(body.NetworkingConfig, { EndpointsConfig: { shop_backend: { Aliases: ['api', 'api.internal'] } } });
    assert.deepEqual(extraNetworks(spec, api), [{ network: 'shop_default', aliases: ['api'] }]);
  });

  it('runs on the host\'s network (no project network, no endpoint config) and takes privileged, pid and ipc', () => {
    const hostApi: ServiceSpec = { ...api, ports: [], networks: {}, networkMode: 'host', privileged: true, pidMode: 'host', ipcMode: 'shareable' };
    const hostBody = containerCreateOptions(spec, hostApi, { project: 'shop', service: 'api', number: 1, configHash: 'abc', imageId: 'sha256:img', operation: 'deploy-shop-1' }, 'shop-api-1');
    assert.equal(hostBody.HostConfig?.NetworkMode, 'host');
    assert.equal(hostBody.NetworkingConfig, undefined);
    assert.equal(hostBody.HostConfig?.Privileged, true);
    assert.equal(hostBody.HostConfig?.PidMode, 'host');
    assert.equal(hostBody.HostConfig?.IpcMode, 'shareable');
    assert.deepEqual(extraNetworks(spec, hostApi), []);
    // Absent, the keys stay out of the body (and out of existing containers' config).
    assert.equal('Privileged' in (body.HostConfig ?? {}), false);
  });
});

// Differences test/integration/compose-differential.test.ts found against docker-compose 1.29.
describe('containerCreateOptions matches what compose sends', () => {
  const identity = { project: 'shop', service: 'api', number: 1, configHash: 'abc', imageId: 'sha256:img', operation: 'deploy-shop-1' };
  const create = (overrides: Partial<ServiceSpec>) => containerCreateOptions(spec, { ...api, ...overrides }, identity, 'shop-api-1');

  it('restart: "no" (also the default) is sent as no policy, as compose sends an absent restart', () => {
    assert.deepEqual(create({ restart: 'no' }).HostConfig?.RestartPolicy, { Name: '' });
    assert.deepEqual(restartPolicyConfig({ ...api, restart: 'on-failure:4' }), { Name: 'on-failure', MaximumRetryCount: 4 });
  });

  it('deploy.restart_policy wins over restart, its condition mapped to Docker\'s names', () => {
    const withPolicy = (restartPolicy: ServiceSpec['deploy']['restartPolicy']) => ({ ...api, restart: 'unless-stopped', deploy: { ...api.deploy, restartPolicy } });
    assert.deepEqual(create(withPolicy({ condition: 'on-failure', maxAttempts: 3 })).HostConfig?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(restartPolicyConfig(withPolicy({ condition: 'on-failure' })), { Name: 'on-failure', MaximumRetryCount: 0 });
    assert.deepEqual(restartPolicyConfig(withPolicy({ condition: 'none' })), { Name: 'no' });
    // Docker refuses a retry count on "always": max_attempts goes only with on-failure.
    assert.deepEqual(restartPolicyConfig(withPolicy({ condition: 'any', maxAttempts: 2 })), { Name: 'always' });
    assert.deepEqual(restartPolicyConfig(withPolicy({})), { Name: 'always' });
  });

  it('deploy.labels stay off the containers; service labels are on them', () => {
    const body = create({ labels: { team: 'core' }, deploy: { ...api.deploy, labels: { 'traefik.enable': 'true' } } });
    assert.equal(body.Labels?.team, 'core');
    assert.equal('traefik.enable' in (body.Labels ?? {}), false);
  });

  it('empty capability, security option and extra host lists are left out; written ones are sent as they are', () => {
    const bare = create({ capAdd: [], capDrop: [], securityOpt: [], extraHosts: [] }).HostConfig ?? {};
    for (const key of ['CapAdd', 'CapDrop', 'SecurityOpt', 'ExtraHosts']) assert.equal(key in bare, false, `${key} is left out`);
    const full = create({}).HostConfig ?? {};
    assert.deepEqual(
      { CapAdd: full.CapAdd, CapDrop: full.CapDrop, SecurityOpt: full.SecurityOpt, ExtraHosts: full.ExtraHosts },
      { CapAdd: ['NET_BIND_SERVICE'], CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], ExtraHosts: ['host.docker.internal:host-gateway'] },
    );
  });
});

describe('networkIpam', () => {
  it('sends no Options when the compose file gives none', () => {
    assert.deepEqual(networkIpam({ config: [{ subnet: '10.9.0.0/24' }], options: {} }), { Driver: 'default', Config: [{ Subnet: '10.9.0.0/24' }] });
    assert.deepEqual(networkIpam({ driver: 'default', config: [], options: { foo: 'bar' } }), { Driver: 'default', Config: [], Options: { foo: 'bar' } });
  });
});

describe('volumeCreateOptions', () => {
  it('sends driver options only when the file gives some, and labels the volume with its project and key', () => {
    assert.deepEqual(volumeCreateOptions(spec, 'data'), {
      Name: 'shop_data',
      Driver: 'local',
      Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.volume': 'data', 'io.dockflow.managed-by': 'dockflow' },
    });
    const tmpfsVolume: StackSpec = { ...spec, volumes: { data: { name: 'shop_data', external: false, driver: 'local', driverOpts: { type: 'tmpfs', device: 'tmpfs' }, labels: { tier: 'db' } } } };
    assert.deepEqual(volumeCreateOptions(tmpfsVolume, 'data'), {
      Name: 'shop_data',
      Driver: 'local',
      DriverOpts: { type: 'tmpfs', device: 'tmpfs' },
      Labels: { tier: 'db', 'com.docker.compose.project': 'shop', 'com.docker.compose.volume': 'data', 'io.dockflow.managed-by': 'dockflow' },
    });
  });
});

describe('anonymous volumes carried to a replacement', () => {
  const anonA = 'a'.repeat(64);
  const anonB = '0123456789abcdef'.repeat(4);
  const anonC = 'c'.repeat(64);
  const id = { project: 'shop', service: 'db', number: 1, configHash: 'h2', imageId: 'sha256:img2', operation: 'deploy-shop-2' };
  const db: ServiceSpec = {
    ...api,
    name: 'db',
    ports: [],
    expose: [],
    tmpfs: [],
    networks: {},
    volumes: [
      { type: 'volume', target: '/cache', readOnly: false },
      { type: 'volume', target: '/seed', readOnly: true },
    ],
  };
  const oldMounts: ContainerMount[] = [
    // image VOLUME /var/lib/db
    { Type: 'volume', Name: anonA, Source: `/var/lib/docker/volumes/${anonA}/_data`, Destination: '/var/lib/db', RW: true },
    // volumes: ["/cache"]
    { Type: 'volume', Name: anonB, Source: `/var/lib/docker/volumes/${anonB}/_data`, Destination: '/cache', RW: true },
    // volumes: ["/seed:ro"]
    { Type: 'volume', Name: anonC, Source: '', Destination: '/seed/', RW: false },
    { Type: 'volume', Name: 'shop_data', Source: '', Destination: '/data', RW: true },
    { Type: 'bind', Source: '/srv/shop/config', Destination: '/config', RW: false },
    { Type: 'tmpfs', Source: '', Destination: '/run', RW: true },
  ];

  it('tells Docker-generated volume names from chosen ones', () => {
    assert.equal(isAnonymousVolumeName(anonA), true);
    assert.equal(isAnonymousVolumeName('shop_data'), false);
    assert.equal(isAnonymousVolumeName('A'.repeat(64)), false);
    assert.equal(isAnonymousVolumeName(undefined), false);
  });

  it('takes over the old anonymous volumes at image VOLUME paths and anonymous entries, by name', () => {
    assert.deepEqual(inheritedAnonymousVolumes(db, ['/var/lib/db', '/data'], oldMounts), [
      { volume: anonB, target: '/cache', readOnly: false },
      { volume: anonC, target: '/seed', readOnly: true },
      { volume: anonA, target: '/var/lib/db', readOnly: false },
    ]);
  });

  it('leaves a path the new spec covers with a named volume, a bind or a tmpfs to the spec', () => {
    const covered: ServiceSpec = {
      ...db,
      volumes: [
        { type: 'volume', source: 'data', target: '/var/lib/db', readOnly: false },
        { type: 'bind', source: '/srv/cache', target: '/cache', readOnly: false },
      ],
      tmpfs: ['/seed:size=1m'],
    };
    assert.deepEqual(inheritedAnonymousVolumes(covered, ['/var/lib/db'], oldMounts), []);
  });

  it('carries nothing the new container would not have (a VOLUME the new image dropped), nor named volumes', () => {
    const plain: ServiceSpec = { ...db, volumes: [] };
    assert.deepEqual(inheritedAnonymousVolumes(plain, [], oldMounts), []);
    // /data is an image VOLUME now, but the old container had the named volume there: not carried.
    assert.deepEqual(inheritedAnonymousVolumes(plain, ['/data'], oldMounts), []);
  });

  it('mounts the inherited volumes as binds by name instead of fresh anonymous volumes', () => {
    const inherited = inheritedAnonymousVolumes(db, ['/var/lib/db'], oldMounts);
    const body = containerCreateOptions(spec, db, id, 'shop-db-1_dockflow-next-h2', true, inherited);
    assert.deepEqual(body.HostConfig?.Binds, [`${anonB}:/cache:rw`, `${anonC}:/seed:ro`, `${anonA}:/var/lib/db:rw`]);
    assert.equal(body.Volumes, undefined, 'no fresh anonymous volume is asked for where one is inherited');
    const fresh = containerCreateOptions(spec, db, id, 'shop-db-1');
    assert.deepEqual(fresh.HostConfig?.Binds, []);
    assert.deepEqual(fresh.Volumes, { '/cache': {}, '/seed': {} });
  });

  it('keeps every volume of a container copied as is (wedge repair), leaving named paths to their binds', () => {
    assert.deepEqual(bindsKeepingVolumes(['/data', '/config'], oldMounts), [`${anonB}:/cache:rw`, `${anonC}:/seed:ro`, `${anonA}:/var/lib/db:rw`]);
  });
});
