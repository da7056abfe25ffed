/** Compose loader: units and short syntaxes, each on its own. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeProjectName, parseBytes, parseDuration, parsePort, parseShortVolume, splitShellWords } from '../../src/compose';
import { loadText, throwsCompose } from '../fixtures/compose/support';

describe('parseDuration', () => {
  const cases: [string | number, number][] = [
    ['1m30s', 90_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h2m3s4ms', 3_723_004],
    ['5us', 0],
    ['1500us', 2],
    ['1500µs', 2],
    ['2000000ns', 2],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['.5s', 500],
    ['0', 0],
    // Bare numbers are seconds: a convenience for the CLI and x-dockflow.
    [10, 10_000],
    [1.5, 1500],
    ['30', 30_000],
  ];
  for (const [input, ms] of cases) it(`${JSON.stringify(input)} = ${ms} ms`, () => assert.equal(parseDuration(input), ms));

  it('rejects what is not a duration', () => {
    for (const bad of ['10 parsecs', 'soon', '', '1m30', '-1s', 's', '1.2.3s']) {
      assert.throws(() => parseDuration(bad), /^Error: invalid duration/, bad);
    }
    assert.throws(() => parseDuration(-1), /invalid duration -1/);
  });

  it('in compose files, like compose, insists on a unit (except for 0)', () => {
    throwsCompose(
      () => loadText('services:\n  web:\n    image: x\n    stop_grace_period: 10\n'),
      'docker-compose.yml: services.web.stop_grace_period: invalid duration 10: a unit is required, e.g. "10s"',
    );
    throwsCompose(() => loadText('services:\n  web:\n    image: x\n    healthcheck: {interval: "30"}\n'), /services\.web\.healthcheck\.interval: invalid duration "30": a unit is required/);
    assert.equal(loadText('services:\n  web:\n    image: x\n    stop_grace_period: 0\n').spec.services.web.stopGracePeriodMs, 0);
  });
});

describe('parseBytes', () => {
  const cases: [string | number, number][] = [
    ['512m', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1gb', 1024 ** 3],
    ['1GiB', 1024 ** 3],
    ['100k', 102_400],
    ['100KB', 102_400],
    ['1.5g', 1.5 * 1024 ** 3],
    ['2048', 2048],
    ['64 m', 64 * 1024 ** 2],
    [1_000_000, 1_000_000],
  ];
  for (const [input, bytes] of cases) it(`${JSON.stringify(input)} = ${bytes} bytes`, () => assert.equal(parseBytes(input), bytes));
  it('rejects what is not a size', () => {
    for (const bad of ['lots', '1x', '-5m', '']) assert.throws(() => parseBytes(bad), /invalid size/, bad);
    assert.throws(() => parseBytes(1.5), /invalid size 1.5/);
  });
});

describe('splitShellWords', () => {
  const cases: [string, string[]][] = [
    ['redis-server --appendonly yes', ['redis-server', '--appendonly', 'yes']],
    [`redis-server --requirepass "a b" 'c d' e\\ f`, ['redis-server', '--requirepass', 'a b', 'c d', 'e f']],
    [`sh -c 'echo "$HOME" && exit 1'`, ['sh', '-c', 'echo "$HOME" && exit 1']],
    [`echo "a\\"b" "c\\d" 'e\\f'`, ['echo', 'a"b', 'c\\d', 'e\\f']],
    [`--save ''`, ['--save', '']],
    [`a"b"'c'd`, ['abcd']],
    ['  spaced   out  ', ['spaced', 'out']],
    ['', []],
  ];
  for (const [input, words] of cases) it(JSON.stringify(input), () => assert.deepEqual(splitShellWords(input), words));

  it('refuses unterminated quotes and unquoted shell operators', () => {
    assert.throws(() => splitShellWords('echo "open'), /unterminated " quote/);
    assert.throws(() => splitShellWords("echo 'open"), /unterminated ' quote/);
    for (const [input, op] of [['a && b', '&&'], ['a; b', ';'], ['a | b', '|'], ['a > /dev/null', '>'], ['a 2>&1', '>'], ['a || b', '||']]) {
      assert.throws(() => splitShellWords(input), { message: `unquoted "${op}" in "${input}": the command is not run by a shell; write it as a list such as ["sh", "-c", "..."] or quote the character` });
    }
  });
});

describe('parsePort', () => {
  const cases: [string | number, unknown][] = [
    ['8080', [{ target: 8080, protocol: 'tcp' }]],
    [8080, [{ target: 8080, protocol: 'tcp' }]],
    ['8000:8000', [{ target: 8000, published: '8000', protocol: 'tcp' }]],
    ['127.0.0.1:8000:80', [{ target: 80, published: '8000', hostIp: '127.0.0.1', protocol: 'tcp' }]],
    ['127.0.0.1::8000', [{ target: 8000, hostIp: '127.0.0.1', protocol: 'tcp' }]],
    ['53:53/udp', [{ target: 53, published: '53', protocol: 'udp' }]],
    ['9000/sctp', [{ target: 9000, protocol: 'sctp' }]],
    ['[::1]:80:8080', [{ target: 8080, published: '80', hostIp: '::1', protocol: 'tcp' }]],
    ['::1:80:8080', [{ target: 8080, published: '80', hostIp: '::1', protocol: 'tcp' }]],
    [
      '8000-8002:9000-9002',
      [
        { target: 9000, published: '8000', protocol: 'tcp' },
        { target: 9001, published: '8001', protocol: 'tcp' },
        { target: 9002, published: '8002', protocol: 'tcp' },
      ],
    ],
    [
      '3000-3001',
      [
        { target: 3000, protocol: 'tcp' },
        { target: 3001, protocol: 'tcp' },
      ],
    ],
    [
      '127.0.0.1:5000-5001:5000-5001/udp',
      [
        { target: 5000, published: '5000', hostIp: '127.0.0.1', protocol: 'udp' },
        { target: 5001, published: '5001', hostIp: '127.0.0.1', protocol: 'udp' },
      ],
    ],
    ['8000-8010:80', [{ target: 80, published: '8000-8010', protocol: 'tcp' }]],
    ['0:80', [{ target: 80, published: '0', protocol: 'tcp' }]],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.deepEqual(parsePort(input), expected));

  it('reads the long syntax', () => {
    assert.deepEqual(parsePort({ target: 443, published: 8443, host_ip: '0.0.0.0', protocol: 'tcp', mode: 'host' }), [
      { target: 443, published: '8443', hostIp: '0.0.0.0', protocol: 'tcp' },
    ]);
    assert.deepEqual(parsePort({ target: 80, published: '8000-8010' }), [{ target: 80, published: '8000-8010', protocol: 'tcp' }]);
    assert.deepEqual(parsePort({ target: 80 }), [{ target: 80, protocol: 'tcp' }]);
  });

  it('rejects nonsense', () => {
    const bad: [string, RegExp][] = [
      ['abc', /^Error: invalid port "abc"$/],
      ['', /^Error: invalid port ""$/],
      ['80/icmp', /protocol "icmp" is not tcp, udp or sctp/],
      ['70000', /ports are 1-65535/],
      ['0', /ports are 1-65535/],
      ['8010-8000', /ranges go upwards/],
      ['8000-8001:9000-9005', /the host and container ranges differ in size/],
      ['8000:9000-9001', /the host and container ranges differ in size/],
      ['localhost:80:80', /"localhost" is not an IP address/],
      ['1.2.3:80:80', /"1.2.3" is not an IP address/],
    ];
    for (const [input, message] of bad) assert.throws(() => parsePort(input), message, input);
  });
});

describe('parseShortVolume', () => {
  const cases: [string, unknown][] = [
    ['/var/cache', { type: 'volume', target: '/var/cache', readOnly: false }],
    ['data:/data', { type: 'volume', source: 'data', target: '/data', readOnly: false }],
    ['data:/data:ro', { type: 'volume', source: 'data', target: '/data', readOnly: true }],
    ['data:/data:nocopy', { type: 'volume', source: 'data', target: '/data', readOnly: false, noCopy: true }],
    ['data:/data/:rw,cached', { type: 'volume', source: 'data', target: '/data', readOnly: false }],
    ['/srv/app:/app', { type: 'bind', source: '/srv/app', target: '/app', readOnly: false, createHostPath: true }],
    ['./conf:/etc/app:ro', { type: 'bind', source: './conf', target: '/etc/app', readOnly: true, createHostPath: true }],
    ['../shared:/shared', { type: 'bind', source: '../shared', target: '/shared', readOnly: false, createHostPath: true }],
    ['.:/code', { type: 'bind', source: '.', target: '/code', readOnly: false, createHostPath: true }],
    ['~/.ssh:/root/.ssh:ro', { type: 'bind', source: '~/.ssh', target: '/root/.ssh', readOnly: true, createHostPath: true }],
  ];
  for (const [input, expected] of cases) it(input, () => assert.deepEqual(parseShortVolume(input), expected));

  it('rejects nonsense and options it cannot honour', () => {
    const bad: [string, RegExp][] = [
      ['data:relative', /the container path "relative" must be absolute/],
      ['a:/b:ro:x', /too many colons/],
      ['a::/b', /empty section between colons/],
      ['data:/data:readonly', /unknown option "readonly"/],
      ['./x:/x:z', /volume option "z" in ".\/x:\/x:z" is not supported by dockflow/],
      ['./x:/x:rshared', /volume option "rshared"/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseShortVolume(input), message, input);
  });
});

describe('normalizeProjectName', () => {
  const cases: [string, string][] = [
    ['My Shop.v2', 'myshopv2'],
    ['_-app', 'app'],
    ['Gantry', 'gantry'],
    ['web_app-2', 'web_app-2'],
    ['9lives', '9lives'],
    ['ÄÖÜ', ''],
    ['--', ''],
  ];
  for (const [input, expected] of cases) it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => assert.equal(normalizeProjectName(input), expected));
});
