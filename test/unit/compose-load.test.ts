/** Compose loader: one project in, the canonical StackSpec out. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';
import { StackSpec, type ServiceSpec } from '../../src/model/spec';
import { HOME, load, loadText, projectDir, throwsCompose } from '../fixtures/compose/support';
import { serviceSpec } from '../support/spec-builders';

/** What a service with only `image: x` becomes; tests spread their differences over it. */
const bare = (name: string, image = 'x'): ServiceSpec => serviceSpec(name, { image });

describe('a service with every supported key', () => {
  const compose = `
services:
  web:
    image: web:1
    pull_policy: always
    command: ["serve", "--port", 80]
    entrypoint: /docker-entrypoint.sh --verbose
    environment: [A=1, B, "C=x=y", D=]
    env_file: [base.env, {path: local.env, required: false}, {path: missing.env, required: false}]
    ports: ["127.0.0.1:8000:80", "8080", 9090, "9000-9001:9000-9001/udp", {target: 443, published: 8443, host_ip: 0.0.0.0, protocol: tcp, mode: host}]
    expose: [9000, "9001/udp", "7000-7001"]
    volumes:
      - data:/data
      - ./conf:/etc/app:ro
      - ../shared:/shared
      - ~/.ssh:/root/.ssh:ro
      - /var/cache/app
      - {type: volume, source: data, target: /backup, read_only: true, volume: {nocopy: true}}
      - {type: volume, target: /anon}
      - {type: bind, source: ./logs, target: /logs/}
      - {type: bind, source: /srv/x, target: /x, bind: {}}
      - {type: bind, source: ~/y, target: /y, bind: {create_host_path: false}}
      - {type: tmpfs, target: /run, tmpfs: {size: 1m, mode: "1777"}}
    tmpfs: [/tmp, "/cache:size=64m"]
    networks:
      front: {aliases: [www, web.local], ipv4_address: 172.20.0.10}
      back:
      default:
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
    healthcheck:
      test: wget -q -O /dev/null http://localhost/
      interval: 1m30s
      timeout: 5s
      retries: 3
      start_period: 10s
      start_interval: 500ms
    restart: on-failure:3
    labels: {team: core, com.example.tier: "1"}
    container_name: web-main
    hostname: web-host
    user: 1000
    working_dir: /app
    read_only: true
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy:
      mode: replicated
      replicas: 1
      resources:
        limits: {cpus: '0.5', memory: 256m, pids: 100}
        reservations: {cpus: 0.25, memory: 64m}
      update_config: {parallelism: 1, delay: 5s, order: start-first, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.2}
      rollback_config: {parallelism: 2, delay: 1s, order: stop-first, failure_action: pause}
      restart_policy: {condition: on-failure, max_attempts: 5}
      labels: [deployed.by=dockflow]
    stop_grace_period: 20s
    stop_signal: SIGINT
    extra_hosts: ["host.docker.internal:host-gateway", "db=10.0.0.5", "v6host:::1"]
    x-dockflow: {after_replace: [{service: proxy, signal: SIGHUP}]}
    x-notes: keep me
  db:
    image: postgres:16
    healthcheck: {disable: true}
  cache:
    image: redis
    profiles: [cache]
networks:
  front: {driver: bridge, driver_opts: {com.docker.network.bridge.name: br-front}, attachable: true, enable_ipv6: false, labels: [tier=front]}
  back: {internal: true, x-note: internal only}
  unused: {}
volumes:
  data: {driver: local, driver_opts: {type: none, o: bind, device: /srv/data}, labels: {keep: "yes"}}
  spare:
x-common: {a: 1}
`;
  const files = {
    'docker-compose.yml': compose,
    'base.env': 'FROM_FILE=base\nA=from-file\nSHARED=base\n',
    'local.env': 'SHARED=local\n',
  };

  it('expands to the canonical form', () => {
    const dir = projectDir(files, 'My App');
    const { spec, warnings } = load(dir, { environment: { B: 'from-env' } });
    assert.deepEqual(warnings, []);
    assert.equal(spec.project, 'myapp');
    assert.equal(spec.workingDir, dir);
    assert.deepEqual(spec.composeFiles, [path.join(dir, 'docker-compose.yml')]);
    assert.deepEqual(Object.keys(spec.services), ['web', 'db'], 'the cache profile is not active');
    assert.deepEqual(spec.services.web, {
      name: 'web',
      image: 'web:1',
      pullPolicy: 'always',
      command: ['serve', '--port', '80'],
      entrypoint: ['/docker-entrypoint.sh', '--verbose'],
      environment: { FROM_FILE: 'base', A: '1', SHARED: 'local', B: 'from-env', C: 'x=y', D: '' },
      ports: [
        { target: 80, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' },
        { target: 8080, protocol: 'tcp' },
        { target: 9090, protocol: 'tcp' },
        { target: 9000, published: '9000', protocol: 'udp' },
        { target: 9001, published: '9001', protocol: 'udp' },
        { target: 443, published: '8443', hostIp: '0.0.0.0', protocol: 'tcp' },
      ],
      expose: ['9000', '9001/udp', '7000-7001'],
      volumes: [
        { type: 'volume', source: 'data', target: '/data', readOnly: false },
        { type: 'bind', source: path.join(dir, 'conf'), target: '/etc/app', readOnly: true, createHostPath: true },
        { type: 'bind', source: path.join(path.dirname(dir), 'shared'), target: '/shared', readOnly: false, createHostPath: true },
        { type: 'bind', source: `${HOME}/.ssh`, target: '/root/.ssh', readOnly: true, createHostPath: true },
        { type: 'volume', target: '/var/cache/app', readOnly: false },
        { type: 'volume', source: 'data', target: '/backup', readOnly: true, noCopy: true },
        { type: 'volume', target: '/anon', readOnly: false },
        { type: 'bind', source: path.join(dir, 'logs'), target: '/logs', readOnly: false, createHostPath: false },
        { type: 'bind', source: '/srv/x', target: '/x', readOnly: false, createHostPath: true },
        { type: 'bind', source: `${HOME}/y`, target: '/y', readOnly: false, createHostPath: false },
        { type: 'tmpfs', target: '/run', readOnly: false, tmpfsSizeBytes: 1024 * 1024, tmpfsMode: 0o1777 },
      ],
      tmpfs: ['/tmp', '/cache:size=64m'],
      networks: {
        front: { aliases: ['www', 'web.local'], ipv4Address: '172.20.0.10' },
        back: { aliases: [] },
        default: { aliases: [] },
      },
      dependsOn: { db: { condition: 'service_healthy', restart: true, required: true } },
      healthcheck: {
        test: ['CMD-SHELL', 'wget -q -O /dev/null http://localhost/'],
        intervalMs: 90_000,
        timeoutMs: 5000,
        retries: 3,
        startPeriodMs: 10_000,
        startIntervalMs: 500,
        disable: false,
      },
      restart: 'on-failure:3',
      profiles: [],
      labels: { team: 'core', 'com.example.tier': '1' },
      containerName: 'web-main',
      hostname: 'web-host',
      user: '1000',
      workingDir: '/app',
      readOnly: true,
      init: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges:true'],
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
      deploy: {
        replicas: 1,
        resources: { limits: { cpus: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 100 }, reservations: { cpus: 0.25, memoryBytes: 64 * 1024 ** 2 } },
        updateConfig: { parallelism: 1, delayMs: 5000, order: 'start-first', failureAction: 'rollback', monitorMs: 10_000, maxFailureRatio: 0.2 },
        rollbackConfig: { parallelism: 2, delayMs: 1000, order: 'stop-first', failureAction: 'pause' },
        restartPolicy: { condition: 'on-failure', maxAttempts: 5 },
        labels: { 'deployed.by': 'dockflow' },
      },
      stopGracePeriodMs: 20_000,
      stopSignal: 'SIGINT',
      extraHosts: ['host.docker.internal:host-gateway', 'db:10.0.0.5', 'v6host:::1'],
      extensions: { 'x-dockflow': { after_replace: [{ service: 'proxy', signal: 'SIGHUP' }] }, 'x-notes': 'keep me' },
    });
    assert.deepEqual(spec.services.db, { ...bare('db', 'postgres:16'), healthcheck: { disable: true } });
    assert.deepEqual(spec.networks, {
      front: {
        name: 'myapp_front',
        external: false,
        driver: 'bridge',
        driverOpts: { 'com.docker.network.bridge.name': 'br-front' },
        internal: false,
        attachable: true,
        enableIpv6: false,
        labels: { tier: 'front' },
      },
      back: { name: 'myapp_back', external: false, driverOpts: {}, internal: true, labels: {} },
      default: { name: 'myapp_default', external: false, driverOpts: {}, internal: false, labels: {} },
    });
    assert.deepEqual(spec.volumes, {
      data: { name: 'myapp_data', external: false, driver: 'local', driverOpts: { type: 'none', o: 'bind', device: '/srv/data' }, labels: { keep: 'yes' } },
    });
    assert.deepEqual(spec.extensions, { 'x-common': { a: 1 } });
    assert.deepEqual(StackSpec.parse(spec), spec, 'the result is a valid StackSpec');
  });

  it('enables the optional dependency with its profile', () => {
    const { spec } = load(projectDir(files), { profiles: ['cache'] });
    assert.deepEqual(spec.services.web.dependsOn.cache, { condition: 'service_started', restart: false, required: false });
    assert.deepEqual(spec.services.cache, { ...bare('cache', 'redis'), profiles: ['cache'] });
  });
});

describe('defaults and short forms', () => {
  it('gives an image-only service the documented defaults', () => {
    const { spec } = loadText('services:\n  web:\n    image: nginx\n');
    assert.deepEqual(spec.services.web, bare('web', 'nginx'));
    assert.deepEqual(spec.networks, { default: { name: 'app_default', external: false, driverOpts: {}, internal: false, labels: {} } });
    assert.deepEqual(spec.volumes, {});
    assert.deepEqual(spec.extensions, {});
  });

  it('tags a build-only image <project>-<service>, builds it rather than pulling, and makes the context absolute', () => {
    const { spec } = loadText('services:\n  API:\n    build:\n      context: ./api\n      args: [VERSION=2, FROM_ENV, UNSET_ARG]\n      labels: [a=b]\n  worker:\n    build: .\n    image: registry/worker:1\n', { environment: { FROM_ENV: 'e' } }, 'shop');
    assert.deepEqual(spec.services.API.build, { context: path.join(path.dirname(spec.workingDir), 'shop', 'api'), dockerfile: 'Dockerfile', args: { VERSION: '2', FROM_ENV: 'e' }, labels: { a: 'b' } });
    assert.equal(spec.services.API.image, 'shop-api');
    assert.equal(spec.services.API.pullPolicy, 'build');
    assert.deepEqual(spec.services.worker.build, { context: spec.workingDir, dockerfile: 'Dockerfile', args: {} });
    assert.equal(spec.services.worker.image, 'registry/worker:1');
    assert.equal(spec.services.worker.pullPolicy, 'missing');
  });

  it('reads the list and map forms alike', () => {
    const list = loadText('services:\n  w:\n    image: x\n    environment: [A=1, B=]\n    labels: [k=v, bare]\n    extra_hosts: ["h:1.2.3.4"]\n    depends_on: [d]\n    networks: [n]\n  d: {image: x}\nnetworks: {n: }\n').spec.services.w;
    const map = loadText('services:\n  w:\n    image: x\n    environment: {A: 1, B: ""}\n    labels: {k: v, bare: }\n    extra_hosts: {h: 1.2.3.4}\n    depends_on: {d: {condition: service_started}}\n    networks: {n: }\n  d: {image: x}\nnetworks: {n: }\n').spec.services.w;
    assert.deepEqual(list, map);
    assert.deepEqual(list.labels, { k: 'v', bare: '' });
    assert.deepEqual(list.dependsOn, { d: { condition: 'service_started', restart: false, required: true } });
  });

  it('turns numbers and booleans into strings where Docker wants strings', () => {
    const web = loadText('services:\n  web:\n    image: x\n    environment: {N: 1, F: 1.5, T: true, O: "007"}\n    labels: {n: 2}\n    user: 0\n').spec.services.web;
    assert.deepEqual(web.environment, { N: '1', F: '1.5', T: 'true', O: '007' });
    assert.deepEqual(web.labels, { n: '2' });
    assert.equal(web.user, '0');
  });

  it('passes a bare environment key through from the environment (or .env), and leaves it out when unset', () => {
    const dir = projectDir({ 'docker-compose.yml': 'services:\n  web:\n    image: x\n    environment: [FROM_ENV, FROM_DOTENV, UNSET]\n    env_file: e.env\n', '.env': 'FROM_DOTENV=d\n', 'e.env': 'UNSET=from-env-file\n' });
    assert.deepEqual(load(dir, { environment: { FROM_ENV: 'v' } }).spec.services.web.environment, { UNSET: 'from-env-file', FROM_ENV: 'v', FROM_DOTENV: 'd' });
  });

  it('decodes typed values that interpolation turned into strings', () => {
    const web = loadText('services:\n  web:\n    image: x\n    read_only: ${RO:-true}\n    init: "false"\n    deploy: {replicas: "${N:-3}", resources: {limits: {cpus: "${CPUS:-1.25}"}}}\n    healthcheck: {retries: "4"}\n', {
      environment: { N: '2' },
    }).spec.services.web;
    assert.equal(web.readOnly, true);
    assert.equal(web.init, false);
    assert.equal(web.deploy.replicas, 2);
    assert.equal(web.deploy.resources.limits?.cpus, 1.25);
    assert.equal(web.healthcheck?.retries, 4);
  });

  it('keeps an explicitly empty command or entrypoint (it clears the image\'s) and drops a null one', () => {
    const { spec } = loadText('services:\n  a: {image: x, command: [], entrypoint: ""}\n  b: {image: x, command: null}\n');
    assert.deepEqual([spec.services.a.command, spec.services.a.entrypoint], [[], []]);
    assert.equal('command' in spec.services.b, false);
  });

  it('reads every healthcheck form', () => {
    const { spec } = loadText(`services:
  shell: {image: x, healthcheck: {test: "curl -f http://x || exit 1"}}
  cmd: {image: x, healthcheck: {test: [CMD, curl, -f, "http://x"], interval: 5s}}
  none: {image: x, healthcheck: {test: [NONE]}}
  off: {image: x, healthcheck: {disable: true}}
  timing: {image: x, healthcheck: {interval: 1m, timeout: 2s, start_period: 0s}}
`);
    assert.deepEqual(spec.services.shell.healthcheck, { test: ['CMD-SHELL', 'curl -f http://x || exit 1'], disable: false });
    assert.deepEqual(spec.services.cmd.healthcheck, { test: ['CMD', 'curl', '-f', 'http://x'], intervalMs: 5000, disable: false });
    assert.deepEqual(spec.services.none.healthcheck, { disable: true });
    assert.deepEqual(spec.services.off.healthcheck, { disable: true });
    assert.deepEqual(spec.services.timing.healthcheck, { intervalMs: 60_000, timeoutMs: 2000, startPeriodMs: 0, disable: false });
  });

  it('takes legacy scale as the replica count, and allows zero replicas', () => {
    const { spec } = loadText('services:\n  a: {image: x, scale: 3}\n  b: {image: x, deploy: {replicas: 0}}\n  c: {image: x, scale: 2, deploy: {replicas: 2}}\n');
    assert.deepEqual([spec.services.a.deploy.replicas, spec.services.b.deploy.replicas, spec.services.c.deploy.replicas], [3, 0, 2]);
  });

  it('reads env_file as a string, later files over earlier ones, environment over all', () => {
    const dir = projectDir({
      'docker-compose.yml': 'services:\n  web:\n    image: x\n    env_file: [one.env, sub/two.env]\n    environment: {C: from-environment}\n',
      'one.env': 'A=1\nB=1\nC=1\n',
      'sub/two.env': 'B=2\nC=2\nREF=${A:-none}-${HOST_VAR}\n',
    });
    assert.deepEqual(load(dir, { environment: { HOST_VAR: 'h' } }).spec.services.web.environment, { A: '1', B: '2', C: 'from-environment', REF: 'none-h' });
    const single = projectDir({ 'docker-compose.yml': 'services:\n  web: {image: x, env_file: one.env}\n', 'one.env': 'A=1\n' });
    assert.deepEqual(load(single).spec.services.web.environment, { A: '1' });
  });
});

describe('networks and volumes', () => {
  it('names resources <project>_<key>, name: when given, and external ones by name: or key', () => {
    const { spec, warnings } = loadText(`
services:
  web: {image: x, networks: [a, b, c, d], volumes: ["v1:/1", "v2:/2", "v3:/3", "v4:/4"]}
networks:
  a:
  b: {name: custom-net}
  c: {external: true}
  d: {external: {name: legacy-net}}
volumes:
  v1: {}
  v2: {name: custom-vol}
  v3: {external: true, name: shared-vol}
  v4: {external: true}
`, {}, 'proj');
    assert.deepEqual(
      Object.fromEntries(Object.entries(spec.networks).map(([k, n]) => [k, [n.name, n.external]])),
      { a: ['proj_a', false], b: ['custom-net', false], c: ['c', true], d: ['legacy-net', true] },
    );
    assert.deepEqual(
      Object.fromEntries(Object.entries(spec.volumes).map(([k, v]) => [k, [v.name, v.external]])),
      { v1: ['proj_v1', false], v2: ['custom-vol', false], v3: ['shared-vol', true], v4: ['v4', true] },
    );
    assert.equal('default' in spec.networks, false, 'no service is on the default network');
    assert.deepEqual(warnings, ['docker-compose.yml: networks.d.external.name is deprecated: write name: legacy-net and external: true']);
  });

  it('uses a declared default network instead of creating one, and leaves out what no enabled service uses', () => {
    const { spec } = loadText(`
services:
  web: {image: x}
  tools: {image: x, profiles: [tools], networks: [toolnet], volumes: ["toolvol:/t"]}
networks:
  default: {name: shared-default, external: true}
  toolnet:
  idle:
volumes:
  toolvol:
  idle:
`);
    assert.deepEqual(spec.networks, { default: { name: 'shared-default', external: true, driverOpts: {}, internal: false, labels: {} } });
    assert.deepEqual(spec.volumes, {});
  });
});

describe('project name and files', () => {
  it('takes -p, then COMPOSE_PROJECT_NAME (environment, then .env), then name:, then the directory', () => {
    const dir = projectDir({ 'compose.yaml': 'name: from-file\nservices:\n  a: {image: a}\n' }, 'Dir_Name');
    assert.equal(load(dir, { projectName: 'flag', environment: { COMPOSE_PROJECT_NAME: 'envname' } }).spec.project, 'flag');
    assert.equal(load(dir, { environment: { COMPOSE_PROJECT_NAME: 'envname' } }).spec.project, 'envname');
    assert.equal(load(dir, { environment: { COMPOSE_PROJECT_NAME: '' } }).spec.project, 'from-file', 'an empty variable does not count');
    assert.equal(load(dir).spec.project, 'from-file');
    fs.writeFileSync(path.join(dir, '.env'), 'COMPOSE_PROJECT_NAME=dotenv-name\n');
    assert.equal(load(dir).spec.project, 'dotenv-name');
    const unnamed = projectDir({ 'docker-compose.yml': 'services:\n  a: {image: a}\n' }, 'Dir_Name');
    assert.equal(load(unnamed).spec.project, 'dir_name');
  });

  it('interpolates name:, and the last file with a name wins', () => {
    const dir = projectDir({ 'a.yml': 'name: ${STACK:-alpha}\nservices:\n  a: {image: a}\n', 'b.yml': 'name: beta\n', 'c.yml': 'services:\n  c: {image: c}\n' });
    assert.equal(load(dir, { files: ['a.yml'] }).spec.project, 'alpha');
    assert.equal(load(dir, { files: ['a.yml'], environment: { STACK: 'Gamma' } }).spec.project, 'gamma');
    assert.equal(load(dir, { files: ['a.yml', 'b.yml', 'c.yml'] }).spec.project, 'beta');
  });

  it('normalises names as compose does, warning when an explicit name changed', () => {
    const dir = projectDir({ 'docker-compose.yml': 'name: "My Stack!"\nservices:\n  a: {image: a}\n' });
    assert.deepEqual(load(dir).warnings, [], 'a name: is normalised silently, as compose does');
    assert.equal(load(dir).spec.project, 'mystack');
    const flagged = load(dir, { projectName: '_Flag.Name' });
    assert.equal(flagged.spec.project, 'flagname');
    assert.deepEqual(flagged.warnings, ['project name "_Flag.Name" from the -p option was normalised to "flagname"']);
    throwsCompose(() => load(dir, { projectName: '!!!' }), 'project name "!!!" from the -p option has no usable characters (lowercase letters, digits, "_" and "-"); pass -p');
    throwsCompose(
      () => load(projectDir({ 'docker-compose.yml': 'name: "__"\nservices:\n  a: {image: a}\n' })),
      'docker-compose.yml: name: project name "__" from name: in docker-compose.yml has no usable characters (lowercase letters, digits, "_" and "-"); pass -p',
    );
  });

  it('finds compose.yaml before compose.yml, docker-compose.yml and docker-compose.yaml, and loads the override file beside it', () => {
    const all = projectDir({
      'compose.yml': 'services:\n  a: {image: yml}\n',
      'docker-compose.yaml': 'services:\n  a: {image: docker-yaml}\n',
      'docker-compose.yml': 'services:\n  a: {image: docker-yml}\n',
    });
    const found = load(all);
    assert.equal(found.spec.services.a.image, 'yml');
    assert.deepEqual(found.warnings, [`found several compose files in ${all} (compose.yml, docker-compose.yml, docker-compose.yaml); using compose.yml`]);
    fs.writeFileSync(path.join(all, 'compose.yaml'), 'services:\n  a: {image: yaml}\n');
    assert.equal(load(all).spec.services.a.image, 'yaml');
    const legacy = projectDir({ 'docker-compose.yml': 'services:\n  a: {image: base}\n', 'docker-compose.override.yml': 'services:\n  a: {image: overridden}\n' });
    const overridden = load(legacy);
    assert.equal(overridden.spec.services.a.image, 'overridden');
    assert.deepEqual(overridden.spec.composeFiles, [path.join(legacy, 'docker-compose.yml'), path.join(legacy, 'docker-compose.override.yml')]);
    assert.equal(load(legacy, { files: ['docker-compose.yml'] }).spec.services.a.image, 'base', '-f turns discovery off');
  });

  it('takes COMPOSE_FILE when no -f is given', () => {
    const dir = projectDir({ 'docker-compose.yml': 'services:\n  a: {image: base}\n', 'one.yml': 'services:\n  a: {image: one}\n', 'two.yml': 'services:\n  a: {labels: {two: "yes"}}\n' });
    const { spec } = load(dir, { environment: { COMPOSE_FILE: 'one.yml:two.yml' } });
    assert.deepEqual([spec.services.a.image, spec.services.a.labels], ['one', { two: 'yes' }]);
    assert.equal(load(dir, { environment: { COMPOSE_FILE: 'one.yml;two.yml', COMPOSE_PATH_SEPARATOR: ';' } }).spec.services.a.image, 'one');
  });

  it('defaults the project directory to the first file\'s directory', () => {
    const dir = projectDir({ 'deploy/compose.yaml': 'services:\n  a: {image: a, volumes: [./data:/data]}\n' }, 'outer');
    const { spec } = loadStack({ files: [path.join(dir, 'deploy', 'compose.yaml')], environment: {}, homeDir: HOME });
    assert.equal(spec.workingDir, path.join(dir, 'deploy'));
    assert.equal(spec.project, 'deploy');
    assert.equal(spec.services.a.volumes[0].source, path.join(dir, 'deploy', 'data'));
    const explicit = load(dir, { files: ['deploy/compose.yaml'] }).spec;
    assert.equal(explicit.workingDir, dir, '--project-directory wins');
    assert.equal(explicit.services.a.volumes[0].source, path.join(dir, 'data'));
  });
});

describe('profiles', () => {
  const compose = `
services:
  app: {image: app, depends_on: {tools: {condition: service_started, required: false}, ghost: {condition: service_started, required: false}}}
  tools: {image: tools, profiles: [tools]}
  ui: {image: ui, profiles: [ui, all]}
  debug: {image: x, profiles: [debug], depends_on: [ui]}
`;
  it('enables services without profiles, and those with an active profile', () => {
    const dir = projectDir({ 'docker-compose.yml': compose });
    assert.deepEqual(Object.keys(load(dir).spec.services), ['app']);
    assert.deepEqual(load(dir).spec.services.app.dependsOn, {}, 'optional dependencies on disabled or unknown services are dropped');
    assert.deepEqual(Object.keys(load(dir, { profiles: ['ui'] }).spec.services), ['app', 'ui']);
    assert.deepEqual(Object.keys(load(dir, { profiles: ['all', 'debug'] }).spec.services), ['app', 'ui', 'debug']);
    assert.deepEqual(Object.keys(load(dir, { environment: { COMPOSE_PROFILES: 'tools, ui' } }).spec.services), ['app', 'tools', 'ui']);
    assert.deepEqual(Object.keys(load(dir, { profiles: [], environment: { COMPOSE_PROFILES: 'tools' } }).spec.services), ['app'], '--profile wins over COMPOSE_PROFILES');
    assert.deepEqual(Object.keys(load(dir, { profiles: ['*'] }).spec.services), ['app', 'tools', 'ui', 'debug']);
    assert.deepEqual(load(dir, { profiles: ['tools'] }).spec.services.app.dependsOn, { tools: { condition: 'service_started', restart: false, required: false } });
  });

  it('refuses an enabled service that needs a disabled one, naming both and the profiles to enable', () => {
    throwsCompose(
      () => load(projectDir({ 'docker-compose.yml': compose }), { profiles: ['debug'] }),
      'docker-compose.yml: services.debug.depends_on.ui: service debug depends on ui, which is disabled by its profiles (enable one with --profile ui or --profile all)',
    );
  });

  it('checks references of enabled services only, as compose does', () => {
    const { spec } = loadText('services:\n  web: {image: x}\n  broken: {profiles: [never], volumes: ["nowhere:/x"], depends_on: [ghost]}\n');
    assert.deepEqual(Object.keys(spec.services), ['web']);
  });
});
