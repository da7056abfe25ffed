/** The compose loader, phase by phase, and on stacks modelled on our users' files. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { networkIpam } from '../../src/docker/container-config';
import { ComposeError, interpolateString, loadStack, normalizeProjectName, parseDotEnv, parseDuration, parseBytes, parsePort, splitShellWords } from '../../src/compose';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'stacks');

function project(files: Record<string, string>, name = 'app'): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-loader-')), name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
  return dir;
}

const load = (dir: string, extra: Parameters<typeof loadStack>[0] = {}) =>
  loadStack({ workingDir: dir, environment: {}, homeDir: '/home/ops', ...extra });

function throwsCompose(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ComposeError, `a ComposeError, got ${String(err)}`);
    assert.match((err as Error).message, message);
    return true;
  });
}

describe('interpolation', () => {
  const env: Record<string, string> = { SET: 'value', EMPTY: '' };
  const lookup = (n: string) => env[n];
  const i = (s: string) => interpolateString(s, lookup).value;

  it('substitutes plain, braced, defaulted and alternative forms', () => {
    assert.equal(i('$SET ${SET}'), 'value value');
    assert.equal(i('${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}'), 'd d  d');
    assert.equal(i('${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${UNSET+alt}'), 'alt  alt ');
    assert.equal(i('${UNSET:-${SET:-x}}/${UNSET:-${ALSO:-deep}}'), 'value/deep');
    assert.equal(i('$$SET costs $$5'), '$SET costs $5');
  });

  it('reports unset variables without a default, and fails on :? and ?', () => {
    assert.deepEqual(interpolateString('a${NOPE}b$NOPE2', lookup), { value: 'ab', missing: ['NOPE', 'NOPE2'] });
    assert.throws(() => i('${EMPTY:?must be set}'), /required variable EMPTY is missing a value: must be set/);
    assert.equal(i('${EMPTY?must be set}'), '');
    assert.throws(() => i('${UNSET?needed}'), /required variable UNSET/);
  });

  it('names the file and key of a failed :? in a compose file', () => {
    const dir = project({ 'docker-compose.yml': 'services:\n  db:\n    image: postgres\n    environment:\n      PW: ${PW:?set PW}\n' });
    throwsCompose(() => load(dir), /^docker-compose\.yml: services\.db\.environment\.PW: required variable PW is missing a value: set PW$/);
  });

  it('takes values from the environment over .env, and from --env-file instead of .env', () => {
    const dir = project({
      'docker-compose.yml': 'services:\n  web:\n    image: "web:${TAG}"\n    command: echo ${GREETING:-hi}\n',
      '.env': 'TAG=from-dotenv\nGREETING="hello there"\n',
      'prod.env': 'TAG=from-prod\n',
    });
    assert.equal(load(dir).spec.services.web.image, 'web:from-dotenv');
    assert.deepEqual(load(dir).spec.services.web.command, ['echo', 'hello', 'there']);
    assert.equal(load(dir, { environment: { TAG: 'from-env' } }).spec.services.web.image, 'web:from-env');
    assert.equal(load(dir, { envFiles: [path.join(dir, 'prod.env')] }).spec.services.web.image, 'web:from-prod');
  });

  it('warns about unset variables', () => {
    const dir = project({ 'docker-compose.yml': 'services:\n  web:\n    image: web:${TAG}\n' });
    const { spec, warnings } = load(dir);
    assert.equal(spec.services.web.image, 'web:');
    assert.deepEqual(warnings, ['docker-compose.yml: the "TAG" variable is not set; defaulting to a blank string']);
  });
});

describe('units and short syntaxes', () => {
  it('parses durations, sizes and shell words', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
    assert.equal(parseDuration(10), 10_000);
    assert.throws(() => parseDuration('10 parsecs'), /invalid duration/);
    assert.equal(parseBytes('512m'), 512 * 1024 ** 2);
    assert.equal(parseBytes('1gb'), 1024 ** 3);
    assert.deepEqual(splitShellWords(`redis-server --requirepass "a b" 'c d' e\\ f`), ['redis-server', '--requirepass', 'a b', 'c d', 'e f']);
  });

  it('parses every port form', () => {
    assert.deepEqual(parsePort('8080'), [{ target: 8080, protocol: 'tcp' }]);
    assert.deepEqual(parsePort('127.0.0.1:8000:8000'), [{ target: 8000, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' }]);
    assert.deepEqual(parsePort('127.0.0.1::80'), [{ target: 80, published: '', hostIp: '127.0.0.1', protocol: 'tcp' }].map(({ published: _p, ...rest }) => rest));
    assert.deepEqual(parsePort('53:53/udp'), [{ target: 53, published: '53', protocol: 'udp' }]);
    assert.deepEqual(parsePort('[::1]:80:8080'), [{ target: 8080, published: '80', hostIp: '::1', protocol: 'tcp' }]);
    assert.deepEqual(parsePort('9000-9001:8000-8001').map((p) => `${p.published}->${p.target}`), ['9000->8000', '9001->8001']);
    assert.throws(() => parsePort('abc'), /invalid port "abc"/);
  });

  it('parses .env files', () => {
    assert.deepEqual(parseDotEnv('A=1\nexport B="two words"\nC=\'$A literal\'\nD=$A-x # comment\n#x\n\nE="line\\nbreak"\n'), {
      A: '1',
      B: 'two words',
      C: '$A literal',
      D: '1-x',
      E: 'line\nbreak',
    });
  });

  it('normalises project names as compose does', () => {
    assert.equal(normalizeProjectName('My Shop.v2'), 'myshopv2');
    assert.equal(normalizeProjectName('_-app'), 'app');
  });
});

describe('loading a project', () => {
  it('expands every construct to its canonical form', () => {
    const dir = project({
      'docker-compose.yml': `
services:
  web:
    image: web:1
    command: ["serve", "--port", "80"]
    entrypoint: /docker-entrypoint.sh
    environment: [A=1, B]
    ports: ["127.0.0.1:8000:80", "8080", {target: 443, published: 8443, protocol: tcp}]
    expose: [9000]
    volumes:
      - data:/data
      - ./conf:/etc/app:ro
      - ~/.ssh:/root/.ssh:ro
      - /var/cache/app
      - {type: tmpfs, target: /run, tmpfs: {size: 1m}}
    tmpfs: [/tmp]
    networks:
      front: {aliases: [www]}
      default:
    depends_on:
      db: {condition: service_healthy, restart: true}
    healthcheck:
      test: wget -q -O /dev/null http://localhost/
      interval: 1m30s
      timeout: 5s
      retries: 3
      start_period: 10s
    restart: on-failure:3
    labels: {team: core}
    user: "1000"
    working_dir: /app
    read_only: true
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy:
      replicas: 2
      resources: {limits: {cpus: '0.5', memory: 256m, pids: 100}, reservations: {memory: 64m}}
      update_config: {parallelism: 1, delay: 5s, order: start-first, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.2}
    stop_grace_period: 20s
    stop_signal: SIGINT
    extra_hosts: ["host.docker.internal:host-gateway"]
    hostname: web-host
    x-dockflow: {after_replace: [{service: proxy, signal: SIGHUP}]}
  db:
    image: postgres:16
    healthcheck: {disable: true}
networks:
  front: {driver: bridge, internal: false, labels: [tier=front]}
volumes:
  data: {labels: {keep: "yes"}}
x-common: {a: 1}
`,
    }, 'My App');
    const { spec } = load(dir, { environment: { B: 'from-env' } });
    assert.equal(spec.project, 'myapp');
    const web = spec.services.web;
    assert.deepEqual(web.command, ['serve', '--port', '80']);
    assert.deepEqual(web.entrypoint, ['/docker-entrypoint.sh']);
    assert.deepEqual(web.environment, { A: '1', B: 'from-env' });
    assert.deepEqual(web.ports, [
      { target: 80, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' },
      { target: 8080, protocol: 'tcp' },
      { target: 443, published: '8443', protocol: 'tcp' },
    ]);
    assert.deepEqual(web.expose, ['9000']);
    assert.deepEqual(web.volumes, [
      { type: 'volume', source: 'data', target: '/data', readOnly: false },
      { type: 'bind', source: path.join(dir, 'conf'), target: '/etc/app', readOnly: true, createHostPath: true },
      { type: 'bind', source: '/home/ops/.ssh', target: '/root/.ssh', readOnly: true, createHostPath: true },
      { type: 'volume', target: '/var/cache/app', readOnly: false },
      { type: 'tmpfs', target: '/run', readOnly: false, tmpfsSizeBytes: 1048576 },
    ]);
    assert.deepEqual(web.tmpfs, ['/tmp']);
    assert.deepEqual(web.networks, { front: { aliases: ['www'] }, default: { aliases: [] } });
    assert.deepEqual(web.dependsOn, { db: { condition: 'service_healthy', restart: true, required: true } });
    assert.deepEqual(web.healthcheck, { test: ['CMD-SHELL', 'wget -q -O /dev/null http://localhost/'], intervalMs: 90_000, timeoutMs: 5000, retries: 3, startPeriodMs: 10_000, disable: false });
    assert.equal(web.restart, 'on-failure:3');
    assert.deepEqual(web.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
    assert.deepEqual(web.deploy, {
      replicas: 2,
      resources: { limits: { cpus: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 100 }, reservations: { memoryBytes: 64 * 1024 ** 2 } },
      updateConfig: { parallelism: 1, delayMs: 5000, order: 'start-first', failureAction: 'rollback', monitorMs: 10_000, maxFailureRatio: 0.2 },
    });
    assert.equal(web.stopGracePeriodMs, 20_000);
    assert.deepEqual(web.extraHosts, ['host.docker.internal:host-gateway']);
    assert.deepEqual(web.extensions, { 'x-dockflow': { after_replace: [{ service: 'proxy', signal: 'SIGHUP' }] } });
    assert.deepEqual(spec.services.db.healthcheck, { disable: true });
    assert.deepEqual(spec.networks.front, { name: 'myapp_front', external: false, driver: 'bridge', driverOpts: {}, internal: false, labels: { tier: 'front' } });
    assert.equal(spec.networks.default.name, 'myapp_default');
    assert.deepEqual(spec.volumes.data, { name: 'myapp_data', external: false, driverOpts: {}, labels: { keep: 'yes' } });
    assert.deepEqual(spec.extensions, { 'x-common': { a: 1 } });
  });

  it('finds the compose file and takes the project name from -p, COMPOSE_PROJECT_NAME, name:, then the directory', () => {
    const dir = project({ 'compose.yaml': 'name: from-file\nservices:\n  a: {image: a}\n' }, 'Dir_Name');
    assert.equal(load(dir, { projectName: 'Flag' }).spec.project, 'flag');
    assert.equal(load(dir, { environment: { COMPOSE_PROJECT_NAME: 'envname' } }).spec.project, 'envname');
    assert.equal(load(dir).spec.project, 'from-file');
    const unnamed = project({ 'docker-compose.yml': 'services:\n  a: {image: a}\n' }, 'Dir_Name');
    assert.equal(load(unnamed).spec.project, 'dir_name');
  });

  it('defaults a build-only image to <project>-<service> and makes the context absolute', () => {
    const dir = project({ 'docker-compose.yml': 'services:\n  api:\n    build:\n      context: ./api\n      args: [VERSION=2]\n' }, 'shop');
    const api = load(dir).spec.services.api;
    assert.equal(api.image, 'shop-api');
    assert.equal(api.pullPolicy, 'build');
    assert.deepEqual(api.build, { context: path.join(dir, 'api'), dockerfile: 'Dockerfile', args: { VERSION: '2' } });
  });
});

describe('merging -f files', () => {
  const base = `
services:
  web:
    image: web:1
    command: serve
    environment: [A=1, B=1]
    ports: ["8000:80"]
    volumes: [./a:/data, ./logs:/logs]
    labels: {x: "1"}
    healthcheck: {test: [CMD, "true"], interval: 5s}
`;
  const override = `
services:
  web:
    image: web:2
    command: [serve, --prod]
    environment: {B: "2", C: "3"}
    ports: ["127.0.0.1:9000:9000"]
    volumes: [./b:/data]
    healthcheck: {interval: 10s}
`;
  const third = 'services:\n  web:\n    environment: {C: "4"}\n  extra: {image: extra}\n';

  it('merges in order, later over earlier, with compose rules per key', () => {
    const dir = project({ 'docker-compose.yml': base, 'docker-compose.prod.yml': override, 'third.yml': third });
    const files = ['docker-compose.yml', 'docker-compose.prod.yml', 'third.yml'].map((f) => path.join(dir, f));
    const { spec } = load(dir, { files });
    const web = spec.services.web;
    assert.equal(web.image, 'web:2');
    assert.deepEqual(web.command, ['serve', '--prod'], 'command is replaced');
    assert.deepEqual(web.environment, { A: '1', B: '2', C: '4' }, 'environment merges as a map');
    assert.deepEqual(web.ports.map((p) => `${p.hostIp ?? ''}:${p.published}:${p.target}`), [':8000:80', '127.0.0.1:9000:9000'], 'ports append');
    assert.deepEqual(web.volumes.map((v) => `${v.source}:${v.target}`), [`${dir}/b:/data`, `${dir}/logs:/logs`], 'volumes merge by target');
    assert.deepEqual(web.healthcheck, { test: ['CMD', 'true'], intervalMs: 10_000, disable: false });
    assert.ok('extra' in spec.services);
    assert.deepEqual(spec.composeFiles, files);
  });
});

describe('profiles', () => {
  const compose = `
services:
  app: {image: app, depends_on: {tools: {condition: service_started, required: false}}}
  tools: {image: tools, profiles: [tools]}
  ui: {image: ui, profiles: [ui, all]}
  needs-ui: {image: x, profiles: [debug], depends_on: [ui]}
`;
  it('enables services without profiles and those with an active profile', () => {
    const dir = project({ 'docker-compose.yml': compose });
    assert.deepEqual(Object.keys(load(dir).spec.services), ['app']);
    assert.deepEqual(load(dir).spec.services.app.dependsOn, {}, 'an optional dependency on a disabled service is dropped');
    assert.deepEqual(Object.keys(load(dir, { profiles: ['ui'] }).spec.services).sort(), ['app', 'ui']);
    assert.deepEqual(Object.keys(load(dir, { environment: { COMPOSE_PROFILES: 'tools,ui' } }).spec.services).sort(), ['app', 'tools', 'ui']);
  });
  it('refuses an enabled service that needs a disabled one, naming the profile to enable', () => {
    const dir = project({ 'docker-compose.yml': compose });
    throwsCompose(() => load(dir, { profiles: ['debug'] }), /services\.needs-ui\.depends_on\.ui: service needs-ui depends on ui, which is disabled by its profiles \(enable one with --profile ui or --profile all\)/);
  });
});

describe('errors name the file and the key', () => {
  const cases: [string, string, RegExp][] = [
    ['unsupported service key', 'services:\n  web:\n    image: x\n    devices: ["/dev/fuse"]\n', /^docker-compose\.yml: services\.web\.devices: not supported by dockflow$/],
    ['unsupported top-level key', 'services:\n  web: {image: x}\nsecrets:\n  s: {file: ./s}\n', /^docker-compose\.yml: secrets: not supported by dockflow$/],
    ['unsupported nested key', 'services:\n  web:\n    image: x\n    healthcheck: {test: [CMD, "true"], intervall: 5s}\n', /services\.web\.healthcheck\.intervall: not supported by dockflow/],
    ['undeclared volume', 'services:\n  web:\n    image: x\n    volumes: [data:/data]\n', /services\.web\.volumes\[0\]: service web refers to undefined volume data/],
    ['undeclared network', 'services:\n  web:\n    image: x\n    networks: [back]\n', /services\.web\.networks\.back: service web refers to undefined network back/],
    ['unknown dependency', 'services:\n  web:\n    image: x\n    depends_on: [db]\n', /service web depends on undefined service db/],
    ['dependency cycle', 'services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n', /cycle among services: a, b/],
    ['invalid port', 'services:\n  web:\n    image: x\n    ports: ["abc"]\n', /services\.web\.ports\[0\]: invalid port "abc"/],
    ['invalid duration', 'services:\n  web:\n    image: x\n    stop_grace_period: soon\n', /services\.web\.stop_grace_period: invalid duration "soon"/],
    ['no image nor build', 'services:\n  web:\n    command: x\n', /services\.web: service has neither an image nor a build context/],
    ['container_name with replicas', 'services:\n  web:\n    image: x\n    container_name: w\n    deploy: {replicas: 2}\n', /services\.web\.container_name: container_name w cannot be used with 2 replicas/],
    ['YAML syntax', 'services:\n  web:\n    image: [x\n', /^docker-compose\.yml: invalid YAML at line \d+/],
    ['duplicate key', 'services:\n  web: {image: x}\n  web: {image: y}\n', /^docker-compose\.yml: invalid YAML/],
    ['wrong type', 'services:\n  web:\n    image: x\n    read_only: sometimes\n', /services\.web\.read_only/],
  ];
  for (const [what, yaml, message] of cases) {
    it(what, () => throwsCompose(() => load(project({ 'docker-compose.yml': yaml })), message));
  }
  it('names the override file that holds the bad key', () => {
    const dir = project({ 'docker-compose.yml': 'services:\n  web: {image: x}\n', 'docker-compose.prod.yml': 'services:\n  web:\n    devices: [/dev/fuse]\n' });
    throwsCompose(
      () => load(dir, { files: [path.join(dir, 'docker-compose.yml'), path.join(dir, 'docker-compose.prod.yml')] }),
      /^docker-compose\.prod\.yml: services\.web\.devices: not supported by dockflow$/,
    );
  });
  it('accepts the obsolete version key with a warning', () => {
    const { warnings } = load(project({ 'docker-compose.yml': 'version: "3.8"\nservices:\n  web: {image: x}\n' }));
    assert.deepEqual(warnings, ["docker-compose.yml: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"]);
  });
});

describe('stacks from the field notes', () => {
  it('Gantry: built backend and frontend, ChromaDB, loopback ports, external + internal networks, prod override', () => {
    const dir = path.join(FIXTURES, 'gantry');
    const { spec } = load(dir, { files: [path.join(dir, 'docker-compose.yml'), path.join(dir, 'docker-compose.prod.yml')], environment: { GANTRY_VERSION: '1.4.0' } });
    assert.equal(spec.project, 'gantry');
    const backend = spec.services.backend;
    assert.equal(backend.image, 'gantry-backend:1.4.0');
    assert.deepEqual(backend.build, { context: path.join(dir, 'backend'), dockerfile: 'Dockerfile.prod', target: 'runtime', args: { PYTHON_VERSION: '3.12' } });
    assert.equal(backend.pullPolicy, 'missing');
    assert.deepEqual(backend.environment, { OPENAI_API_KEY: 'sk-test-123', GANTRY_SECRET: 'multi word', CHROMA_HOST: 'chromadb', CHROMA_PORT: '8000', LOG_LEVEL: 'warning' });
    assert.deepEqual(backend.ports, [{ target: 8000, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' }]);
    assert.deepEqual(backend.dependsOn, { chromadb: { condition: 'service_healthy', restart: false, required: true } });
    assert.equal(backend.healthcheck?.startPeriodMs, 40_000);
    assert.equal(backend.deploy.replicas, 2);
    assert.deepEqual(backend.deploy.resources.limits, { cpus: 1.5, memoryBytes: 1024 ** 3 });
    assert.deepEqual(Object.keys(backend.networks), ['backend', 'proxy']);
    assert.equal(spec.services.frontend.image, 'gantry-frontend');
    assert.equal(spec.services.frontend.build?.context, path.join(dir, 'frontend'));
    const chroma = spec.services.chromadb;
    assert.deepEqual(chroma.ports, [{ target: 8080, protocol: 'tcp' }, { target: 8000, published: '8081', hostIp: '127.0.0.1', protocol: 'tcp' }]);
    assert.deepEqual(chroma.healthcheck?.test, ['CMD-SHELL', 'curl -f http://localhost:8000/api/v1/heartbeat || exit 1']);
    assert.deepEqual(chroma.networks.backend, { aliases: ['vectors'] });
    assert.deepEqual(spec.networks.proxy, { name: 'proxy-net', external: true, driverOpts: {}, internal: false, labels: {} });
    assert.equal(spec.networks.backend.internal, true);
    assert.equal(spec.networks.default, undefined, 'no service uses the default network');
    assert.equal(spec.volumes['chromadb-data'].name, 'gantry_chromadb-data');
  });

  it('Nostream/Dassie: health-gated relay, one-shot migration, optional profile-gated Dassie, hardening', () => {
    const dir = path.join(FIXTURES, 'nostream');
    throwsCompose(() => load(dir), /services\.nostream-db\.environment\.POSTGRES_PASSWORD: required variable DB_PASSWORD is missing a value: set DB_PASSWORD in \.env/);
    const { spec } = load(dir, { environment: { DB_PASSWORD: 'pw', SECRET: 'from-shell' } });
    const relay = spec.services.nostream;
    assert.equal(relay.image, 'nostream-nostream');
    assert.equal(relay.containerName, 'nostream');
    assert.deepEqual(relay.environment, { DB_HOST: 'nostream-db', REDIS_HOST: 'nostream-cache', SECRET: 'from-shell' });
    assert.deepEqual(relay.dependsOn, {
      'nostream-db': { condition: 'service_healthy', restart: false, required: true },
      'nostream-cache': { condition: 'service_healthy', restart: false, required: true },
      'nostream-migrate': { condition: 'service_completed_successfully', restart: false, required: true },
    });
    assert.deepEqual(relay.volumes, [
      { type: 'bind', source: path.join(dir, 'data'), target: '/app/data', readOnly: false, createHostPath: true },
      { type: 'bind', source: '/home/ops/.ssh', target: '/root/.ssh', readOnly: true, createHostPath: true },
      { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsSizeBytes: 64 * 1024 ** 2 },
    ]);
    assert.equal(relay.readOnly, true);
    assert.deepEqual([relay.capDrop, relay.capAdd, relay.user], [['ALL'], ['NET_BIND_SERVICE'], '1000:1000']);
    assert.equal(relay.stopGracePeriodMs, 90_000);
    assert.deepEqual(relay.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
    assert.deepEqual(spec.services['nostream-cache'].command, ['redis-server', '--loglevel', 'warning', '--requirepass', 's3cret']);
    assert.deepEqual(spec.services['nostream-cache'].tmpfs, ['/data']);
    assert.equal(spec.services['nostream-db'].deploy.resources.limits?.memoryBytes, 512 * 1024 ** 2);
    assert.equal('dassie' in spec.services, false);
    const withDassie = load(dir, { environment: { DB_PASSWORD: 'pw' }, profiles: ['dassie'] }).spec;
    assert.deepEqual(withDassie.services.nostream.dependsOn.dassie, { condition: 'service_healthy', restart: false, required: false });
  });
});

describe('network ipam', () => {
  it('carries subnets, ranges, gateways, aux addresses and options to the spec, and Docker\'s body from it', () => {
    const dir = project({
      'compose.yaml': `services:
  web: {image: x, networks: [front]}
networks:
  front:
    ipam:
      driver: default
      config:
        - subnet: 10.77.0.0/16
          ip_range: 10.77.5.0/24
          gateway: 10.77.0.1
          aux_addresses: {router: 10.77.0.2}
      options: {foo: bar}
`,
    });
    const { spec } = load(dir);
    assert.deepEqual(spec.networks.front.ipam, {
      driver: 'default',
      config: [{ subnet: '10.77.0.0/16', ipRange: '10.77.5.0/24', gateway: '10.77.0.1', auxAddresses: { router: '10.77.0.2' } }],
      options: { foo: 'bar' },
    });
    assert.deepEqual(networkIpam(spec.networks.front.ipam!), {
      Driver: 'default',
      Config: [{ Subnet: '10.77.0.0/16', IPRange: '10.77.5.0/24', Gateway: '10.77.0.1', AuxiliaryAddresses: { router: '10.77.0.2' } }],
      Options: { foo: 'bar' },
    });
  });
});

describe('network_mode', () => {
  it('a host-network service joins no project network, and the project network exists only for services that use it', () => {
    const only = load(project({ 'compose.yaml': 'services:\n  exporter: {image: x, network_mode: host, pid: host}\n' })).spec;
    assert.deepEqual(only.services.exporter.networks, {});
    assert.equal(only.services.exporter.networkMode, 'host');
    assert.equal(only.services.exporter.pidMode, 'host');
    assert.deepEqual(only.networks, {});
    const mixed = load(project({ 'compose.yaml': 'services:\n  exporter: {image: x, network_mode: host}\n  web: {image: x}\n' })).spec;
    assert.deepEqual(Object.keys(mixed.networks), ['default']);
  });
});

describe("the project's own docker-compose.temporal.yml", () => {
  it('loads with dockflow\'s loader', () => {
    const root = path.resolve(__dirname, '..', '..');
    const { spec } = loadStack({ files: [path.join(root, 'docker-compose.temporal.yml')], environment: {}, homeDir: '/home/ops' });
    assert.equal(spec.project, 'dockflow-temporal');
    assert.deepEqual(Object.keys(spec.services).sort(), ['postgresql', 'temporal', 'temporal-schema', 'temporal-ui', 'worker']);
    assert.deepEqual(spec.services.worker.volumes[0], { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false, createHostPath: true });
    assert.equal(spec.services.worker.build?.dockerfile, 'Dockerfile');
    assert.equal(spec.services.worker.environment.DOCKFLOW_STACKS_DIR, '/srv/dockflow');
    assert.deepEqual(spec.services.worker.volumes.find((v) => v.target === '/var/lib/dockflow'), { type: 'volume', source: 'dockflow-state', target: '/var/lib/dockflow', readOnly: false });
    assert.deepEqual(spec.volumes['dockflow-state']?.name, 'dockflow-temporal_dockflow-state');
    assert.deepEqual(spec.services.temporal.dependsOn['temporal-schema'], { condition: 'service_completed_successfully', restart: false, required: true });
    assert.deepEqual(spec.services['temporal-schema'].dependsOn.postgresql, { condition: 'service_healthy', restart: false, required: true });
    // $$ in the schema job's script reaches the shell as one $.
    assert.match(spec.services['temporal-schema'].command?.[0] ?? '', /for db in temporal temporal_visibility; do\n {2}schema=temporal; \[ "\$db" = temporal \]/);
    assert.deepEqual(spec.services.temporal.healthcheck?.test?.[0], 'CMD-SHELL');
  });

  it('with --profile codec and a key file: the codec server on loopback, key and token from read-only files, no token on its command line', () => {
    const root = path.resolve(__dirname, '..', '..');
    const { spec } = loadStack({
      files: [path.join(root, 'docker-compose.temporal.yml')],
      profiles: ['codec'],
      environment: { DOCKFLOW_ENCRYPTION_KEY_FILE: '/etc/dockflow/encryption.key', DOCKFLOW_CODEC_TOKEN_FILE: '/etc/dockflow/codec.token', DOCKFLOW_CODEC_HOST_PORT: '9234', TEMPORAL_UI_HOST_PORT: '9233' },
      homeDir: '/home/ops',
    });
    const codec = spec.services.codec;
    assert.equal(codec.networkMode, 'host');
    assert.deepEqual(codec.command, ['node', 'bin/dockflow.js', 'codec-server', '--host', '127.0.0.1', '--port', '9234', '--ui-origin', 'http://127.0.0.1:9233', '--ui-origin', 'http://localhost:9233']);
    assert.equal(codec.environment.DOCKFLOW_ENCRYPTION_KEY_FILE, '/run/secrets/dockflow_encryption_key');
    const binds = codec.volumes.map((v) => `${v.source}:${v.target}:${v.readOnly ? 'ro' : 'rw'}`);
    assert.deepEqual(binds, ['/etc/dockflow/encryption.key:/run/secrets/dockflow_encryption_key:ro', '/etc/dockflow/codec.token:/run/secrets/dockflow_codec_token:ro']);
    // The token file is added by the entrypoint's shell ($$ reaches it as $), so only its path is ever an argument.
    assert.match(codec.entrypoint?.[2] ?? '', /set -- "\$@" --token-file \/run\/secrets\/dockflow_codec_token; fi; exec "\$@"$/);
    assert.equal(codec.image, spec.services.worker.image);
    assert.ok(spec.services.worker.volumes.some((v) => v.source === '/etc/dockflow/encryption.key' && v.target === '/run/secrets/dockflow_encryption_key' && v.readOnly));
    assert.match(spec.services.worker.entrypoint?.[2] ?? '', /export DOCKFLOW_ENCRYPTION_KEY_FILE=\/run\/secrets\/dockflow_encryption_key; exec "\$@"$/);
  });
});
