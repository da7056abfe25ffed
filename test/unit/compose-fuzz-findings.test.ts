/**
 * Compose loader: what the fuzzer (test/fuzz) found, each kept as a
 * regression test. Before the fixes every one of these escaped as a
 * TypeError/RangeError/plain Error (or hung, or read a device forever)
 * instead of a ComposeError naming the file and the key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { composeError, loadText, projectDir, load } from '../fixtures/compose/support';
import { parseBytes, parseDuration } from '../../src/compose';

const F = 'docker-compose.yml';

describe('YAML the parser library throws plain errors for', () => {
  it('an alias bomb ("billion laughs") is refused as too many aliases, not a ReferenceError', () => {
    let bomb = 'x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i <= 6; i++) bomb += `x-l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
    const err = composeError(() => loadText(`${bomb}services:\n  web: {image: x}\n`));
    assert.equal(err.file, F);
    assert.match(err.reason, /aliases expand more than 10000 times/);
  });

  it('an alias inside the node it refers to (an endless tree) names the key, not a stack overflow', () => {
    const err = composeError(() => loadText('services:\n  web:\n    image: x\n    ports: &p\n      - *p\n'));
    assert.equal(err.file, F);
    assert.equal(err.path, 'services.web.ports[0]');
    assert.equal(err.line, 5);
    assert.match(err.reason, /the alias \*p is inside the node it refers to/);
  });

  it('a << merge of the mapping that holds it is refused, not a stack overflow', () => {
    const err = composeError(() => loadText('services:\n  web: &w\n    image: x\n    labels:\n      <<: *w\n'));
    assert.equal(err.path, 'services.web.labels');
    assert.match(err.reason, /inside the node it refers to/);
  });

  it('a << merge of something other than a mapping names the key, not "Merge sources must be maps"', () => {
    const scalar = composeError(() => loadText('x-a: &a 5\nservices:\n  web:\n    <<: *a\n    image: x\n'));
    assert.equal(scalar.path, 'services.web');
    assert.equal(scalar.line, 4);
    assert.match(scalar.reason, /a << merge takes a mapping or a list of mappings, \*a is not one/);
    const inline = composeError(() => loadText('services:\n  web:\n    <<: [1, 2]\n    image: x\n'));
    assert.equal(inline.path, 'services.web');
    assert.match(inline.reason, /a << merge takes a mapping or a list of mappings/);
  });

  it('merges of mappings still work, and duplicate keys are still refused with their line', () => {
    const { spec } = loadText('x-a: &a {image: x}\nx-b: &b {restart: always}\nservices:\n  web:\n    <<: [*a, *b]\n');
    assert.equal(spec.services.web.image, 'x');
    assert.equal(spec.services.web.restart, 'always');
    const err = composeError(() => loadText('services:\n  web:\n    image: x\n    image: y\n'));
    assert.equal(err.message, `${F}: invalid YAML at line 4, column 5: mapping key "image" is defined twice`);
  });

  it('flow collections nested hundreds deep are refused at once, before the parser\'s slow error recovery', () => {
    const nested = `${'{a: '.repeat(5000)}1${'}'.repeat(5000)}`;
    const started = performance.now();
    const err = composeError(() => loadText(`{}\n\nx-deep: ${nested}\n`));
    assert.equal(err.file, F);
    assert.equal(err.line, 3);
    assert.match(err.reason, /nested more than 256 levels deep/);
    assert.ok(performance.now() - started < 1000, `took ${Math.round(performance.now() - started)} ms`);
    // Block nesting too: how deep the parser's recursion may go must not depend on the process's stack.
    const block = `x-b:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')}\n`;
    const deepBlock = composeError(() => loadText(`services:\n  web: {image: x}\n${block}`));
    assert.equal(deepBlock.line, 260);
    assert.match(deepBlock.reason, /indented \(nested\) more than 256 columns/);
    const dashes = composeError(() => loadText(`services:\n  web: {image: x}\nx-d:\n${'- '.repeat(200)}x\n`));
    assert.match(dashes.reason, /more than 256 columns/);
    // Ordinary nesting, and balanced brackets inside strings, are fine.
    const { spec } = loadText('services:\n  web:\n    image: x\n    healthcheck: {test: [CMD-SHELL, "[ -f /a ] && [ -f /b ]"]}\n');
    assert.deepEqual(spec.services.web.healthcheck?.test, ['CMD-SHELL', '[ -f /a ] && [ -f /b ]']);
  });

  it('a mapping of many keys loads in linear time (the duplicate check and the provenance were quadratic)', () => {
    const timeFor = (n: number) => {
      const keys = Array.from({ length: n }, (_, i) => `  k${i}: v${i}`).join('\n');
      const dir = projectDir({ [F]: `services:\n  web: {image: x}\nx-wide:\n${keys}\n` });
      let best = Infinity;
      for (let attempt = 0; attempt < 2; attempt++) {
        const started = performance.now();
        load(dir);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    timeFor(2000); // warm up
    const small = timeFor(5000);
    const large = timeFor(20000);
    // Four times the keys: about four times the time when linear, sixteen when quadratic.
    assert.ok(large < small * 9, `20000 keys took ${Math.round(large)} ms, 5000 keys ${Math.round(small)} ms`);
  });
});

describe('numbers too large to hold exactly', () => {
  it('a whole number past 2^53 names its key, not "the loader produced an invalid spec"', () => {
    const err = composeError(() => loadText('services:\n  web:\n    image: x\n    deploy: {replicas: 99999999999999999999}\n'));
    assert.equal(err.path, 'services.web.deploy.replicas');
    assert.match(err.reason, /too large/);
    const retries = composeError(() => loadText('services:\n  web:\n    image: x\n    healthcheck: {test: [CMD, "true"], retries: "18014398509481984"}\n'));
    assert.equal(retries.path, 'services.web.healthcheck.retries');
  });

  it('durations and sizes past 2^53 are refused where they are written', () => {
    const duration = composeError(() => loadText('services:\n  web:\n    image: x\n    stop_grace_period: 99999999999999999w\n'));
    assert.equal(duration.path, 'services.web.stop_grace_period');
    const size = composeError(() => loadText('services:\n  web:\n    image: x\n    deploy: {resources: {limits: {memory: 99999999999p}}}\n'));
    assert.equal(size.path, 'services.web.deploy.resources.limits.memory');
    assert.throws(() => parseDuration(1e300), /invalid duration/);
    assert.throws(() => parseDuration('1e300'), /invalid duration/);
    assert.throws(() => parseBytes(2 ** 60), /invalid size/);
  });
});

describe('project names longer than the spec allows', () => {
  it('a 300-character name is refused naming where it came from, not "the loader produced an invalid spec"', () => {
    const long = 'x'.repeat(300);
    const fromFile = composeError(() => loadText(`name: ${long}\nservices:\n  web: {image: x}\n`));
    assert.equal(fromFile.file, F);
    assert.equal(fromFile.path, 'name');
    assert.match(fromFile.reason, /is 300 characters long, more than 200/);
    const fromEnv = composeError(() => loadText('services:\n  web: {image: x}\n', { environment: { COMPOSE_PROJECT_NAME: long } }));
    assert.match(fromEnv.reason, /from COMPOSE_PROJECT_NAME is 300 characters long/);
    assert.equal(loadText('services:\n  web: {image: x}\n', { projectName: 'x'.repeat(200) }).spec.project.length, 200);
  });
});

describe('env_file paths that are not regular files', () => {
  it('a device such as /dev/zero is refused at once instead of being read forever', () => {
    const started = performance.now();
    const err = composeError(() => loadText('services:\n  web:\n    image: x\n    env_file: /dev/zero\n'));
    assert.equal(err.path, 'services.web.env_file[0]');
    assert.match(err.reason, /\/dev\/zero is not a regular file/);
    assert.ok(performance.now() - started < 5000);
  });

  it('a directory, or a path through a file, is a ComposeError naming the key, not EISDIR/ENOTDIR', () => {
    const dir = composeError(() => loadText('services:\n  web:\n    image: x\n    env_file: .\n'));
    assert.equal(dir.path, 'services.web.env_file[0]');
    assert.match(dir.reason, /is not a regular file/);
    const project = projectDir({ [F]: 'services:\n  web:\n    image: x\n    env_file: [{path: a.env/x, required: false}, b.env]\n', 'a.env': 'A=1\n' });
    const through = composeError(() => load(project));
    assert.equal(through.path, 'services.web.env_file[0]');
    assert.match(through.reason, /cannot read env file/);
    assert.ok(fs.existsSync(project));
  });
});
