/** Compose loader: what it refuses, and how it says so (file: key path: reason). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ComposeError } from '../../src/compose';
import { composeError, load, loadText, projectDir, throwsCompose } from '../fixtures/compose/support';

const F = 'docker-compose.yml';

describe('unsupported keys name the file and the path', () => {
  const cases: [string, string, string][] = [
    ['a service key', 'services:\n  web:\n    image: x\n    devices: ["/dev/fuse"]\n', 'services.web.devices'],
    ['a top-level key', 'services:\n  web: {image: x}\nsecrets:\n  s: {file: ./s}\n', 'secrets'],
    ['configs', 'services:\n  web: {image: x}\nconfigs:\n  c: {file: ./c}\n', 'configs'],
    ['a healthcheck key', 'services:\n  web:\n    image: x\n    healthcheck: {test: [CMD, "true"], intervall: 5s}\n', 'services.web.healthcheck.intervall'],
    ['a build key', 'services:\n  web:\n    build: {context: ., ssh: [default]}\n', 'services.web.build.ssh'],
    ['a deploy key', 'services:\n  web:\n    image: x\n    deploy: {endpoint_mode: vip}\n', 'services.web.deploy.endpoint_mode'],
    ['a placement key other than constraints', 'services:\n  web:\n    image: x\n    deploy: {placement: {preferences: [{spread: node.labels.zone}]}}\n', 'services.web.deploy.placement.preferences'],
    ['a restart_policy key', 'services:\n  web:\n    image: x\n    deploy: {restart_policy: {condition: any, window: 10s}}\n', 'services.web.deploy.restart_policy.window'],
    ['a long port key', 'services:\n  web:\n    image: x\n    ports: [{target: 80, app_protocol: http}]\n', 'services.web.ports[0].app_protocol'],
    ['a long volume key', 'services:\n  web:\n    image: x\n    volumes: [{type: bind, source: ., target: /x, consistency: cached}]\n', 'services.web.volumes[0].consistency'],
    ['a service network key', 'services:\n  web:\n    image: x\n    networks: {n: {priority: 10}}\nnetworks: {n: }\n', 'services.web.networks.n.priority'],
    ['a network key', 'services:\n  web: {image: x}\nnetworks:\n  n: {driver: bridge, enable_ipv4: false}\n', 'networks.n.enable_ipv4'],
    ['a volume key', 'services:\n  web: {image: x}\nvolumes:\n  v: {driver: local, size: 1g}\n', 'volumes.v.size'],
    ['devices', 'services:\n  web:\n    image: x\n    devices: [/dev/fuse]\n', 'services.web.devices'],
    ['include', 'include: [other.yml]\nservices:\n  web: {image: x}\n', 'include'],
  ];
  for (const [what, yaml, keyPath] of cases) {
    it(what, () => {
      const err = throwsCompose(() => loadText(yaml), `${F}: ${keyPath}: not supported by dockflow`);
      assert.equal(err.file, F);
      assert.equal(err.path, keyPath);
      assert.equal(err.reason, 'not supported by dockflow');
    });
  }

  it('but x-* keys are allowed at every level, and top-level version only warns', () => {
    const yaml = `version: "3.8"
x-top: 1
services:
  web:
    image: x
    x-svc: {a: 1}
    build: {context: ., x-build: 1}
    deploy: {x-deploy: 1, resources: {x-res: 1}}
    healthcheck: {test: [CMD, "true"], x-hc: 1}
    logging: {driver: local, x-log: 1}
    networks: {n: {x-net: 1}}
    volumes: [{type: volume, target: /d, x-vol: 1}]
    ports: [{target: 80, x-port: 1}]
networks:
  n: {x-n: 1}
volumes:
  v: {x-v: 1}
`;
    const { spec, warnings } = loadText(yaml);
    assert.deepEqual(spec.extensions, { 'x-top': 1 });
    assert.deepEqual(spec.services.web.extensions, { 'x-svc': { a: 1 } });
    assert.deepEqual(warnings, [`${F}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`]);
  });
});

describe('invalid values name the file, the path and what was expected', () => {
  const cases: [string, string, string][] = [
    ['invalid port', 'services:\n  web:\n    image: x\n    ports: ["abc"]\n', 'services.web.ports[0]: invalid port "abc"'],
    ['port out of range', 'services:\n  web:\n    image: x\n    ports: ["80:70000"]\n', 'services.web.ports[0]: invalid port "80:70000": ports are 1-65535'],
    ['long port target', 'services:\n  web:\n    image: x\n    ports: [{target: 0}]\n', 'services.web.ports[0].target: expected a whole number from 1 to 65535, got 0'],
    ['ports not a list', 'services:\n  web:\n    image: x\n    ports: 8080\n', 'services.web.ports: expected a list, got 8080'],
    ['expose', 'services:\n  web:\n    image: x\n    expose: ["80/icmp"]\n', 'services.web.expose[0]: invalid exposed port "80/icmp"'],
    ['boolean', 'services:\n  web:\n    image: x\n    read_only: sometimes\n', 'services.web.read_only: expected a boolean (true or false), got "sometimes"'],
    ['duration', 'services:\n  web:\n    image: x\n    stop_grace_period: soon\n', 'services.web.stop_grace_period: invalid duration "soon" (expected e.g. 10s, 1m30s, 500ms)'],
    ['size', 'services:\n  web:\n    image: x\n    deploy: {resources: {limits: {memory: lots}}}\n', 'services.web.deploy.resources.limits.memory: invalid size "lots" (expected e.g. 512m, 1g, 100k)'],
    ['cpus', 'services:\n  web:\n    image: x\n    deploy: {resources: {limits: {cpus: many}}}\n', 'services.web.deploy.resources.limits.cpus: expected a number, got "many"'],
    ['negative replicas', 'services:\n  web:\n    image: x\n    deploy: {replicas: -1}\n', 'services.web.deploy.replicas: expected a whole number >= 0, got -1'],
    ['restart', 'services:\n  web:\n    image: x\n    restart: sometimes\n', 'services.web.restart: invalid restart policy "sometimes" (expected no, always, unless-stopped, on-failure or on-failure:N)'],
    ['pull_policy', 'services:\n  web:\n    image: x\n    pull_policy: daily\n', 'services.web.pull_policy: expected one of always, missing, never, build, if_not_present, got "daily"'],
    ['depends_on condition', 'services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_ready}}\n  db: {image: x}\n', 'services.web.depends_on.db.condition: expected one of service_started, service_healthy, service_completed_successfully, got "service_ready"'],
    ['healthcheck test', 'services:\n  web:\n    image: x\n    healthcheck: {test: [curl, localhost]}\n', 'services.web.healthcheck.test: a test list starts with CMD, CMD-SHELL or NONE, got "curl"'],
    ['healthcheck disable and test', 'services:\n  web:\n    image: x\n    healthcheck: {test: [CMD, "true"], disable: true}\n', 'services.web.healthcheck.disable: disable: true and a test cannot be used together'],
    ['environment value', 'services:\n  web:\n    image: x\n    environment: {A: {b: 1}}\n', 'services.web.environment.A: expected a string, number, boolean or null, got a mapping'],
    ['image type', 'services:\n  web:\n    image: [x]\n', 'services.web.image: expected a string, got a list'],
    ['external', 'services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {external: 5}\n', 'networks.n.external: expected a boolean or a mapping, got 5'],
    ['services a list', 'services:\n  - web\n', 'services: expected a mapping, got a list'],
    ['service name', 'services:\n  "we b": {image: x}\n', 'services.we b: invalid service name: use letters, digits, ".", "_" and "-"'],
    ['profile name', 'services:\n  web: {image: x, profiles: ["-x"]}\n', 'services.web.profiles[0]: invalid profile name "-x"'],
    ['volume target', 'services:\n  web:\n    image: x\n    volumes: ["data:relative"]\nvolumes: {data: }\n', 'services.web.volumes[0]: invalid volume "data:relative": the container path "relative" must be absolute'],
    ['volume option', 'services:\n  web:\n    image: x\n    volumes: ["./x:/x:z"]\n', 'services.web.volumes[0]: volume option "z" in "./x:/x:z" is not supported by dockflow'],
    ['bind without source', 'services:\n  web:\n    image: x\n    volumes: [{type: bind, target: /x}]\n', 'services.web.volumes[0].source: a bind mount needs a source'],
    ['options of another type', 'services:\n  web:\n    image: x\n    volumes: [{type: volume, target: /x, bind: {create_host_path: true}}]\n', 'services.web.volumes[0].bind: "bind" options are only for type: bind'],
    ['tmpfs mode', 'services:\n  web:\n    image: x\n    volumes: [{type: tmpfs, target: /x, tmpfs: {mode: 999}}]\n', 'services.web.volumes[0].tmpfs.mode: expected an octal mode such as 1777, got 999'],
    ['extra host', 'services:\n  web:\n    image: x\n    extra_hosts: [nohost]\n', 'services.web.extra_hosts[0]: invalid extra host "nohost" (expected "host:ip" or "host=ip")'],
    ['command operators', 'services:\n  web:\n    image: x\n    command: npm start > /dev/null\n', 'services.web.command: unquoted ">" in "npm start > /dev/null": the command is not run by a shell; write it as a list such as ["sh", "-c", "..."] or quote the character'],
    ['command quote', 'services:\n  web:\n    image: x\n    command: echo "open\n', 'services.web.command: unterminated " quote in "echo "open"'],
    ['interpolation format', 'services:\n  web:\n    image: x:${TAG\n', 'services.web.image: invalid interpolation format in "x:${TAG": unterminated "${"'],
  ];
  for (const [what, yaml, expected] of cases) {
    it(what, () => {
      throwsCompose(() => loadText(yaml), `${F}: ${expected}`);
    });
  }
});

describe('references and consistency', () => {
  const cases: [string, string, string][] = [
    ['undeclared named volume', 'services:\n  web:\n    image: x\n    volumes: [data:/data]\n', 'services.web.volumes[0]: service web refers to undefined volume data: declare it under the top-level volumes:'],
    ['undeclared long-syntax volume', 'services:\n  web:\n    image: x\n    volumes: [{type: volume, source: data, target: /data}]\n', 'services.web.volumes[0]: service web refers to undefined volume data: declare it under the top-level volumes:'],
    ['undeclared network', 'services:\n  web:\n    image: x\n    networks: [back]\n', 'services.web.networks.back: service web refers to undefined network back: declare it under the top-level networks:'],
    ['unknown depends_on service', 'services:\n  web:\n    image: x\n    depends_on: [db]\n', 'services.web.depends_on.db: service web depends on undefined service db'],
    ['depends_on cycle', 'services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n', 'services.a.depends_on.b: depends_on cycle among services: a, b (a -> b -> a)'],
    ['longer cycle', 'services:\n  web: {image: x, depends_on: [api]}\n  api: {image: x, depends_on: {db: {condition: service_healthy}}}\n  db: {image: x, depends_on: [web]}\n  ok: {image: x, depends_on: [web]}\n', 'services.api.depends_on.db: depends_on cycle among services: api, db, web (api -> db -> web -> api)'],
    ['self dependency', 'services:\n  a: {image: x, depends_on: [a]}\n', 'services.a.depends_on.a: depends_on cycle among services: a (a -> a)'],
    ['neither image nor build', 'services:\n  web:\n    command: x\n', 'services.web: service has neither an image nor a build context specified'],
    ['empty service', 'services:\n  web:\n', 'services.web: service has neither an image nor a build context specified'],
    ['container_name with replicas', 'services:\n  web:\n    image: x\n    container_name: web\n    deploy: {replicas: 2}\n', 'services.web.container_name: container_name web cannot be used with 2 replicas: container names must be unique'],
    ['scale and replicas disagree', 'services:\n  web:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n', 'services.web.scale: scale (2) and deploy.replicas (3) disagree: set one of them'],
    ['pull_policy build without build', 'services:\n  web:\n    image: x\n    pull_policy: build\n', 'services.web.pull_policy: pull_policy: build needs a build: section'],
    ['remote build context', 'services:\n  web:\n    build: https://github.com/org/repo.git#main\n', 'services.web.build.context: remote build context "https://github.com/org/repo.git#main" is not supported by dockflow: clone it and build from a directory'],
    ['external network with a driver', 'services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {external: true, driver: overlay}\n', 'networks.n.driver: cannot be set on an external network: dockflow does not create it'],
    ['network_mode with networks', 'services:\n  web: {image: x, network_mode: host, networks: [n]}\nnetworks:\n  n: {}\n', 'services.web.network_mode: service web sets both network_mode and networks: a container in network_mode host joins no project network'],
    ['network_mode host with ports', 'services:\n  web: {image: x, network_mode: host, ports: ["80:80"]}\n', "services.web.ports: service web publishes ports with network_mode host: it listens on the host's ports directly; remove ports"],
    ['another container\'s network', 'services:\n  web: {image: x, network_mode: "service:db"}\n  db: {image: x}\n', 'services.web.network_mode: expected one of host, none, bridge, got "service:db"'],
    ['external network with ipam', 'services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {external: true, ipam: {config: [{subnet: 10.1.0.0/24}]}}\n', 'networks.n.ipam: cannot be set on an external network: dockflow does not create it'],
    ['unknown ipam pool key', 'services:\n  web: {image: x}\nnetworks:\n  default: {ipam: {config: [{subnet: 10.1.0.0/24, prefix: 24}]}}\n', 'networks.default.ipam.config[0].prefix: not supported by dockflow'],
    ['external volume with labels', 'services:\n  web: {image: x, volumes: ["v:/v"]}\nvolumes:\n  v: {external: true, labels: [a=b]}\n', 'volumes.v.labels: cannot be set on an external volume: dockflow does not create it'],
    ['legacy external name disagrees', 'services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {name: a, external: {name: b}}\n', 'networks.n.name: name "a" and external.name "b" disagree'],
  ];
  for (const [what, yaml, expected] of cases) {
    it(what, () => {
      throwsCompose(() => loadText(yaml), `${F}: ${expected}`);
    });
  }

  it('a missing required env_file names it; an optional one is skipped', () => {
    const dir = projectDir({ [F]: 'services:\n  web:\n    image: x\n    env_file: [ok.env, missing.env]\n', 'ok.env': 'A=1\n' });
    throwsCompose(() => load(dir), `${F}: services.web.env_file[1]: env file ${path.join(dir, 'missing.env')} not found`);
    const optional = projectDir({ [F]: 'services:\n  web:\n    image: x\n    env_file: [{path: missing.env, required: false}]\n' });
    assert.deepEqual(load(optional).spec.services.web.environment, {});
  });

  it('a malformed env_file names the file and the line', () => {
    const dir = projectDir({ [F]: 'services:\n  web:\n    image: x\n    env_file: bad.env\n', 'bad.env': 'A=1\nB="open\n' });
    throwsCompose(() => load(dir), `${F}: services.web.env_file[0]: ${path.join(dir, 'bad.env')}: line 2: unterminated quoted value for B`);
  });
});

describe('files and YAML', () => {
  it('a YAML syntax error names the file and the line', () => {
    const err = throwsCompose(() => loadText('services:\n  web:\n    image: [x\n'), /^docker-compose\.yml: invalid YAML at line 4, column 1: /);
    assert.equal(err.line, 4);
    throwsCompose(() => loadText('services:\n\tweb: {}\n'), `${F}: invalid YAML at line 2, column 1: Tabs are not allowed as indentation`);
  });

  it('a duplicate key is an error', () => {
    const err = throwsCompose(() => loadText('services:\n  web: {image: x}\n  db: {image: y}\n  web: {image: z}\n'), `${F}: invalid YAML at line 4, column 3: mapping key "web" is defined twice`);
    assert.equal(err.line, 4);
  });

  it('an unknown YAML tag is an error', () => {
    throwsCompose(() => loadText('services:\n  web: !include web.yml\n'), `${F}: unknown YAML tag !include at line 2: only !reset and !override are supported`);
  });

  it('the top level must be a mapping, and something must be there', () => {
    throwsCompose(() => loadText('- web\n'), `${F}: the top level must be a mapping (services:, networks:, volumes:, ...)`);
    throwsCompose(() => loadText('# nothing\n'), `${F}: empty compose file`);
  });

  it('the file name is relative to the project directory, or absolute outside it', () => {
    const dir = projectDir({ 'deploy/prod.yml': 'services:\n  web:\n    image: x\n    devices: []\n' });
    throwsCompose(() => load(dir, { files: ['deploy/prod.yml'] }), 'deploy/prod.yml: services.web.devices: not supported by dockflow');
    const elsewhere = projectDir({});
    throwsCompose(() => load(elsewhere, { files: [path.join(dir, 'deploy/prod.yml')] }), `${path.join(dir, 'deploy/prod.yml')}: services.web.devices: not supported by dockflow`);
  });

  it('missing files', () => {
    const dir = projectDir({});
    throwsCompose(() => load(dir), `no compose file in ${dir} (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml); pass -f`);
    throwsCompose(() => load(dir, { files: ['nope.yml'] }), `compose file not found: ${path.join(dir, 'nope.yml')}`);
  });

  it('ComposeError carries the parts of its message', () => {
    const err = composeError(() => loadText('services:\n  web:\n    image: x\n    ports: ["abc"]\n'));
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ComposeError');
    assert.deepEqual([err.file, err.path, err.reason, err.line], [F, 'services.web.ports[0]', 'invalid port "abc"', 4]);
    assert.equal(new ComposeError('r').message, 'r');
  });
});
