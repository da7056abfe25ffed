/** Compose loader, interpolation phase and the .env dialect. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ComposeError, interpolate, interpolateString, parseDotEnv } from '../../src/compose';
import { load, loadText, projectDir, throwsCompose } from '../fixtures/compose/support';

const ENV = { SET: 'value', EMPTY: '', B: 'bee', NUM: '42' };
const i = (s: string) => interpolateString(s, ENV).value;

describe('interpolateString', () => {
  const cases: [string, string][] = [
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['pre-${SET}-post', 'pre-value-post'],
    ['$SET.txt', 'value.txt'],
    ['${SET}x $SETx', 'valuex '],
    ['${UNSET:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${SET:-dflt}', 'value'],
    ['${UNSET-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-}', ''],
    ['${UNSET:-a b:c}', 'a b:c'],
    ['${A:-${B:-x}}', 'bee'],
    ['${A:-${C:-x}}', 'x'],
    ['${A:-${C:-${D:-deep}}}/${NUM}', 'deep/42'],
    ['${SET:+[${B}]}', '[bee]'],
    ['$$', '$'],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['cost: $5 and 100$', 'cost: $5 and 100$'],
    ['a $ b', 'a $ b'],
    ['${UNSET:-{braces}}', '{braces}'],
    ['no variables', 'no variables'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => assert.equal(i(input), expected));
  }

  it('lists unset variables that had no default, once each', () => {
    assert.deepEqual(interpolateString('a${NOPE}b$NOPE ${NOPE2} ${X:-$NOPE3}', ENV), { value: 'ab  ', missing: ['NOPE', 'NOPE2', 'NOPE3'] });
    assert.deepEqual(interpolateString('${NOPE:-d} ${NOPE-d} ${NOPE:+x}', ENV).missing, []);
  });

  it('fails on :? when unset or empty, on ? only when unset, with the interpolated message', () => {
    assert.throws(() => i('${EMPTY:?must be set}'), { message: 'required variable EMPTY is missing a value: must be set' });
    assert.throws(() => i('${UNSET:?}'), { message: 'required variable UNSET is missing a value' });
    assert.throws(() => i('${UNSET?needed for $SET}'), { message: 'required variable UNSET is missing a value: needed for value' });
    assert.equal(i('${EMPTY?must be set}'), '');
    assert.equal(i('${SET:?must be set}'), 'value');
  });

  it('rejects malformed braces', () => {
    assert.throws(() => i('${SET'), /unterminated "\$\{"/);
    assert.throws(() => i('${}'), { message: 'invalid interpolation format "${}"' });
    assert.throws(() => i('${1BAD}'), { message: 'invalid interpolation format "${1BAD}"' });
    assert.throws(() => i('${A B}'), { message: 'invalid interpolation format "${A B}"' });
  });

  it('accepts a lookup function as well as a map', () => {
    assert.equal(interpolateString('${X}', (name) => (name === 'X' ? 'fn' : undefined)).value, 'fn');
  });
});

describe('interpolate (a whole document)', () => {
  it('substitutes every string value, never keys, and leaves other scalars alone', () => {
    const doc = { services: { $SET: { image: 'img:${NUM}', ports: ['${NUM}:80', 8080], read_only: true, x: null } } };
    assert.deepEqual(interpolate(doc, ENV), { services: { $SET: { image: 'img:42', ports: ['42:80', 8080], read_only: true, x: null } } });
  });

  it('warns once per unset variable, naming the file', () => {
    const warnings: string[] = [];
    interpolate({ a: '$NOPE', b: ['${NOPE}', '${OTHER}'] }, ENV, { file: 'compose.yaml', warnings });
    assert.deepEqual(warnings, [
      'compose.yaml: the "NOPE" variable is not set; defaulting to a blank string',
      'compose.yaml: the "OTHER" variable is not set; defaulting to a blank string',
    ]);
  });

  it('names file and key path in errors', () => {
    assert.throws(
      () => interpolate({ services: { db: { environment: ['A=1', 'PW=${PW:?set it}'] } } }, ENV, { file: 'docker-compose.yml' }),
      (err: unknown) => {
        assert.ok(err instanceof ComposeError);
        assert.equal(err.message, 'docker-compose.yml: services.db.environment[1]: required variable PW is missing a value: set it');
        assert.equal(err.file, 'docker-compose.yml');
        assert.equal(err.path, 'services.db.environment[1]');
        return true;
      },
    );
  });
});

describe('interpolation while loading', () => {
  it('a failed :? names the file, the key and the message', () => {
    const text = 'services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it in .env}\n';
    const err = throwsCompose(
      () => loadText(text),
      'docker-compose.yml: services.db.environment.POSTGRES_PASSWORD: required variable POSTGRES_PASSWORD is missing a value: set it in .env',
    );
    assert.equal(err.line, 5);
  });

  it('an unset variable becomes "" with a warning', () => {
    const { spec, warnings } = loadText('services:\n  web:\n    image: web:${TAG}\n    environment: {A: "$TAG", B: "${TAG:-x}"}\n');
    assert.equal(spec.services.web.image, 'web:');
    assert.deepEqual(spec.services.web.environment, { A: '', B: 'x' });
    assert.deepEqual(warnings, ['docker-compose.yml: the "TAG" variable is not set; defaulting to a blank string']);
  });

  it('takes the injected environment over .env, and --env-file instead of .env', () => {
    const dir = projectDir({
      'docker-compose.yml': 'services:\n  web:\n    image: "web:${TAG}"\n    command: echo ${GREETING:-hi} $$HOME\n    labels: ["from=${FROM:-nowhere}"]\n',
      '.env': 'TAG=from-dotenv\nGREETING="hello there"\nFROM=dotenv\n',
      'prod.env': 'TAG=from-prod\n',
      'extra.env': 'TAG=from-extra\nFROM=extra-${TAG}\n',
    });
    const dotenv = load(dir).spec.services.web;
    assert.equal(dotenv.image, 'web:from-dotenv');
    assert.deepEqual(dotenv.command, ['echo', 'hello', 'there', '$HOME']);
    assert.equal(load(dir, { environment: { TAG: 'from-env' } }).spec.services.web.image, 'web:from-env');
    assert.equal(load(dir, { environment: { TAG: '' } }).spec.services.web.image, 'web:', 'an empty variable is set');
    const prod = load(dir, { envFiles: [path.join(dir, 'prod.env')] }).spec.services.web;
    assert.equal(prod.image, 'web:from-prod');
    assert.deepEqual(prod.command, ['echo', 'hi', '$HOME'], '.env is not read when --env-file is given');
    const both = load(dir, { envFiles: ['prod.env', 'extra.env'] }).spec.services.web;
    assert.equal(both.image, 'web:from-extra', 'later env files win; relative paths are from the project directory');
    assert.deepEqual(both.labels, { from: 'extra-from-extra' });
  });

  it('does not pass .env values into containers (only env_file does)', () => {
    const dir = projectDir({ 'docker-compose.yml': 'services:\n  web: {image: x}\n', '.env': 'SECRET=1\n' });
    assert.deepEqual(load(dir).spec.services.web.environment, {});
  });

  it('refuses a missing --env-file and a malformed .env, naming the file', () => {
    const dir = projectDir({ 'docker-compose.yml': 'services:\n  web: {image: x}\n', '.env': 'GOOD=1\nBAD KEY=2\n' });
    throwsCompose(() => load(dir, { envFiles: ['missing.env'] }), `missing.env: env file ${path.join(dir, 'missing.env')} not found`);
    throwsCompose(() => load(dir), '.env: line 2: expected KEY=VALUE, got "BAD KEY=2"');
  });

  it('defines COMPOSE_PROJECT_NAME once the name is known', () => {
    const { spec } = loadText('name: shop\nservices:\n  web:\n    image: x\n    labels: {project: "${COMPOSE_PROJECT_NAME}"}\n');
    assert.deepEqual(spec.services.web.labels, { project: 'shop' });
  });

  it('interpolates x-* extensions too, and values used through anchors', () => {
    const { spec } = loadText('x-env: &env\n  TAG: ${TAG:-1}\nservices:\n  web:\n    image: x\n    environment: *env\n', { environment: { TAG: '7' } });
    assert.deepEqual(spec.extensions, { 'x-env': { TAG: '7' } });
    assert.deepEqual(spec.services.web.environment, { TAG: '7' });
  });
});

describe('parseDotEnv', () => {
  it('reads compose\'s .env dialect', () => {
    const text = [
      '# a comment',
      '',
      'A=1',
      'export B="two words"',
      "C='$A literal \\n'",
      'D=$A-x # trailing comment',
      'E="line\\nbreak\\ttab \\"quoted\\" \\\\ \\$A"',
      'F=',
      'G = spaced ',
      'H=a#not-a-comment',
      'I: yaml-style',
      'J="multi',
      'line"',
      "K='it\\'s'",
      'L=${A:-none}${UNSET:-dflt}',
      'M="${B}"',
      '   N=indented',
    ].join('\n');
    assert.deepEqual(parseDotEnv(text), {
      A: '1',
      B: 'two words',
      C: '$A literal \\n',
      D: '1-x',
      E: 'line\nbreak\ttab "quoted" \\ $A',
      F: '',
      G: 'spaced',
      H: 'a#not-a-comment',
      I: 'yaml-style',
      J: 'multi\nline',
      K: "it's",
      L: '1dflt',
      M: 'two words',
      N: 'indented',
    });
  });

  it('prefers the environment over earlier keys when expanding, and inherits bare keys', () => {
    const lookup = (name: string) => ({ A: 'env', HOME: '/root' })[name];
    assert.deepEqual(parseDotEnv('A=file\nB=${A}\nHOME\nNOPE\n', lookup), { A: 'file', B: 'env', HOME: '/root' });
  });

  it('handles CRLF line ends and a byte-order mark', () => {
    assert.deepEqual(parseDotEnv('\uFEFFA=1\r\nB="x"\r\n'), { A: '1', B: 'x' });
  });

  it('rejects unterminated quotes, bad names and failed :?', () => {
    assert.throws(() => parseDotEnv('A=1\nB="open\n'), { message: 'line 2: unterminated quoted value for B' });
    assert.throws(() => parseDotEnv('A$B=1'), { message: 'line 1: unexpected character "$" in variable name "A$B"' });
    assert.throws(() => parseDotEnv('\n\nA=${X:?needed}'), { message: 'line 3: required variable X is missing a value: needed' });
  });
});
