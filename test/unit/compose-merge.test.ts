/** Compose loader: several -f files merged in order, with compose's rules. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { load, projectDir, throwsCompose } from '../fixtures/compose/support';

const base = `
name: shop
services:
  web:
    image: web:1
    build: ./web
    command: serve
    entrypoint: [/init]
    environment: [A=1, B=1]
    env_file: [a.env]
    ports: ["8000:80", "9000:9000"]
    expose: [80]
    volumes: [./a:/data, ./logs:/logs, cache:/cache]
    labels: {x: "1", keep: "yes"}
    extra_hosts: ["db:10.0.0.1"]
    healthcheck: {test: [CMD, "true"], interval: 5s, retries: 3}
    depends_on: [db]
    networks: {front: {aliases: [www]}}
    cap_add: [NET_ADMIN]
    logging: {driver: json-file, options: {max-size: 10m}}
    deploy: {resources: {limits: {memory: 256m}}, labels: [a=1]}
    profiles: [web]
  db:
    image: postgres:15
networks:
  front: {labels: {tier: front}}
volumes:
  cache: {}
`;

const prod = `
services:
  web:
    image: web:2
    build: {dockerfile: Dockerfile.prod, args: [MODE=prod]}
    command: [serve, --prod]
    environment: {B: "2", C: "3"}
    env_file: b.env
    ports: ["127.0.0.1:9443:443", "8000:80"]
    expose: ["80", 443]
    volumes: [./b:/data/]
    labels: [x=2]
    extra_hosts: {db: 10.0.0.2, cache: 10.0.0.3}
    healthcheck: {interval: 10s}
    depends_on: {db: {condition: service_healthy}}
    networks: [front, back]
    cap_add: [NET_ADMIN, SYS_TIME]
    logging: {options: {max-file: "3"}}
    deploy: {replicas: 2, resources: {limits: {cpus: "0.5"}}, labels: {b: "2"}}
    profiles: [prod]
  db:
    image: postgres:16
    healthcheck: {test: pg_isready}
networks:
  back: {internal: true}
  front: {labels: [owner=ops]}
`;

const third = `
services:
  web:
    environment: {C: "4"}
    healthcheck: {test: [CMD, curl, -f, "http://localhost/"]}
    logging: {driver: syslog, options: {syslog-address: "udp://1.2.3.4:514"}}
  extra: {image: extra}
`;

const files = {
  'docker-compose.yml': base,
  'docker-compose.prod.yml': prod,
  'third.yml': third,
  'a.env': 'FROM_A=a\nSHARED=a\n',
  'b.env': 'FROM_B=b\nSHARED=b\n',
};

describe('merging -f files', () => {
  it('two files: later over earlier, per compose\'s rules for each key', () => {
    const dir = projectDir(files);
    const composeFiles = ['docker-compose.yml', 'docker-compose.prod.yml'].map((f) => path.join(dir, f));
    const { spec } = load(dir, { files: composeFiles, profiles: ['prod'] });
    const web = spec.services.web;
    assert.equal(web.image, 'web:2', 'scalars are replaced');
    assert.deepEqual(web.build, { context: path.join(dir, 'web'), dockerfile: 'Dockerfile.prod', args: { MODE: 'prod' } }, 'a string build merges with a mapping');
    assert.deepEqual(web.command, ['serve', '--prod'], 'command is replaced');
    assert.deepEqual(web.entrypoint, ['/init'], 'entrypoint kept when not overridden');
    assert.deepEqual(web.environment, { FROM_A: 'a', SHARED: 'b', FROM_B: 'b', A: '1', B: '2', C: '3' }, 'environment merges as a map; env_file appends');
    assert.deepEqual(
      web.ports.map((p) => `${p.hostIp ?? ''}:${p.published}:${p.target}`),
      [':8000:80', ':9000:9000', '127.0.0.1:9443:443'],
      'ports append without duplicates',
    );
    assert.deepEqual(web.expose, ['80', '443'], 'expose appends without duplicates, numbers and strings alike');
    assert.deepEqual(
      web.volumes.map((v) => `${v.source}:${v.target}`),
      [`${dir}/b:/data`, `${dir}/logs:/logs`, 'cache:/cache'],
      'volumes merge by container path, the override taking the original place',
    );
    assert.deepEqual(web.labels, { x: '2', keep: 'yes' }, 'labels merge as a map');
    assert.deepEqual(web.extraHosts, ['db:10.0.0.2', 'cache:10.0.0.3'], 'extra_hosts merge as a map');
    assert.deepEqual(web.healthcheck, { test: ['CMD', 'true'], intervalMs: 10_000, retries: 3, disable: false }, 'healthcheck merges key by key');
    assert.deepEqual(web.dependsOn, { db: { condition: 'service_healthy', restart: false, required: true } }, 'depends_on merges as a map');
    assert.deepEqual(web.networks, { front: { aliases: ['www'] }, back: { aliases: [] } }, 'networks merge as a map; a bare name keeps aliases');
    assert.deepEqual(web.capAdd, ['NET_ADMIN', 'SYS_TIME']);
    assert.deepEqual(web.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } }, 'logging merges when the driver is the same');
    assert.deepEqual(web.deploy, { replicas: 2, resources: { limits: { memoryBytes: 256 * 1024 ** 2, cpus: 0.5 } }, labels: { a: '1', b: '2' } });
    assert.deepEqual(web.profiles, ['web', 'prod'], 'profiles append');
    assert.deepEqual(spec.services.db.healthcheck, { test: ['CMD-SHELL', 'pg_isready'], disable: false });
    assert.equal(spec.services.db.image, 'postgres:16');
    assert.deepEqual(spec.networks.front.labels, { tier: 'front', owner: 'ops' });
    assert.equal(spec.networks.back.internal, true);
    assert.equal(spec.project, 'shop');
    assert.deepEqual(spec.composeFiles, composeFiles);
  });

  it('three files: the third over the merge of the first two', () => {
    const dir = projectDir(files);
    const { spec } = load(dir, { files: ['docker-compose.yml', 'docker-compose.prod.yml', 'third.yml'], profiles: ['web'] });
    const web = spec.services.web;
    assert.equal(web.environment.C, '4');
    assert.deepEqual(web.healthcheck?.test, ['CMD', 'curl', '-f', 'http://localhost/'], 'healthcheck.test is replaced');
    assert.equal(web.healthcheck?.intervalMs, 10_000);
    assert.deepEqual(web.logging, { driver: 'syslog', options: { 'syslog-address': 'udp://1.2.3.4:514' } }, 'another driver replaces the logging block');
    assert.deepEqual(Object.keys(spec.services), ['web', 'db', 'extra'], 'new services join in file order');
    assert.deepEqual(spec.services.extra.networks, { default: { aliases: [] } });
    assert.ok(spec.networks.default);
  });

  it('order matters: the same files the other way round', () => {
    const dir = projectDir(files);
    const { spec } = load(dir, { files: ['docker-compose.prod.yml', 'docker-compose.yml'], profiles: ['web'] });
    assert.equal(spec.services.web.image, 'web:1');
    assert.deepEqual(spec.services.web.command, ['serve']);
    assert.deepEqual(spec.services.web.labels, { x: '1', keep: 'yes' });
  });

  it('a null in a later file keeps the earlier value, except where null means something', () => {
    const dir = projectDir({
      'docker-compose.yml':
        'services:\n  web:\n    image: x\n    command: run\n    environment: {A: "1", B: "1"}\n    networks: {front: {aliases: [www]}}\n    volumes: [data:/d]\nnetworks:\n  front: {}\nvolumes:\n  data: {driver: local}\n',
      'nulls.yml': 'services:\n  web:\n    command:\n    environment:\n      A:\n    networks:\n      front:\nvolumes:\n  data:\n',
    });
    const web = (environment: Record<string, string>) => load(dir, { files: ['docker-compose.yml', 'nulls.yml'], environment }).spec;
    assert.equal(web({}).services.web.command, undefined, 'command: null replaces the command');
    assert.deepEqual(web({}).services.web.environment, { B: '1' }, 'a bare A now comes from the environment, where it is unset');
    assert.deepEqual(web({ A: 'env' }).services.web.environment, { A: 'env', B: '1' });
    assert.deepEqual(web({}).services.web.networks, { front: { aliases: ['www'] } });
    assert.equal(web({}).volumes.data.driver, 'local');
  });

  it('!reset removes what earlier files set, !override replaces instead of merging', () => {
    const dir = projectDir({
      'docker-compose.yml': 'services:\n  web:\n    image: x\n    ports: ["80:80"]\n    environment: {A: "1", B: "1"}\n    labels: {a: "1"}\n    user: root\n',
      'tags.yml': 'services:\n  web:\n    ports: !reset []\n    environment: !override\n      C: "3"\n    user: !reset null\n',
    });
    const tags = load(dir, { files: ['docker-compose.yml', 'tags.yml'] }).spec.services.web;
    assert.deepEqual(tags.ports, []);
    assert.deepEqual(tags.environment, { C: '3' });
    assert.equal(tags.user, undefined);
    assert.deepEqual(tags.labels, { a: '1' });
  });

  it('a later list depends_on resets the condition, as in compose', () => {
    const dir = projectDir({
      'a.yml': 'services:\n  web: {image: x, depends_on: {db: {condition: service_healthy, restart: true}}}\n  db: {image: x}\n',
      'b.yml': 'services:\n  web: {depends_on: [db]}\n',
    });
    assert.deepEqual(load(dir, { files: ['a.yml', 'b.yml'] }).spec.services.web.dependsOn, { db: { condition: 'service_started', restart: true, required: true } });
  });

  it('collapses duplicates inside one file too', () => {
    const { spec } = load(projectDir({ 'docker-compose.yml': 'services:\n  web:\n    image: x\n    ports: ["80:80", "80:80", {target: 80, published: 80}]\n    volumes: [./a:/d, ./b:/d]\n    cap_drop: [ALL, ALL]\n' }));
    assert.deepEqual(spec.services.web.ports, [{ target: 80, published: '80', protocol: 'tcp' }]);
    assert.deepEqual(spec.services.web.volumes.map((v) => v.source?.endsWith('/b')), [true]);
    assert.deepEqual(spec.services.web.capDrop, ['ALL']);
  });
});

describe('errors after a merge name the file the value came from', () => {
  const dir = projectDir({
    'docker-compose.yml': 'services:\n  web:\n    image: x\n    ports: ["80:80"]\n',
    'volumes.yml': 'services:\n  web:\n    volumes:\n      - ./ok:/ok\n      - data:/data\n',
    'partial.yml': 'services:\n  worker:\n    command: run\n',
    'more.yml': 'services:\n  worker:\n    environment: {A: "1"}\n',
    'bad.yml': 'services:\n  web:\n    devices: [/dev/fuse]\n',
    'badport.yml': 'services:\n  web:\n    ports: ["8080:abc"]\n',
  });
  const files = (...names: string[]) => ({ files: names.map((n) => path.join(dir, n)) });

  it('an unsupported key in an override file', () => {
    const err = throwsCompose(() => load(dir, files('docker-compose.yml', 'bad.yml')), 'bad.yml: services.web.devices: not supported by dockflow');
    assert.deepEqual([err.file, err.path, err.line], ['bad.yml', 'services.web.devices', 3]);
  });

  it('an invalid value in an override file', () => {
    throwsCompose(() => load(dir, files('docker-compose.yml', 'badport.yml')), 'badport.yml: services.web.ports[0]: invalid port "8080:abc"');
  });

  it('a reference checked after the merge, with its line', () => {
    const err = throwsCompose(
      () => load(dir, files('docker-compose.yml', 'volumes.yml')),
      'volumes.yml: services.web.volumes[1]: service web refers to undefined volume data: declare it under the top-level volumes:',
    );
    assert.equal(err.line, 5);
  });

  it('a problem of the whole service lists every file that defines it', () => {
    throwsCompose(
      () => load(dir, files('docker-compose.yml', 'partial.yml', 'more.yml')),
      'partial.yml, more.yml: services.worker: service has neither an image nor a build context specified',
    );
  });
});
