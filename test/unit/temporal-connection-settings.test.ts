/**
 * TLS and API key settings towards Temporal (src/temporal/settings.ts): read
 * from DOCKFLOW_TEMPORAL_* or the temporal CLI's TEMPORAL_* names, files read
 * up front, and every setting that cannot work refused before any
 * connection, naming the variable and the file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TemporalSettingsError, sdkConnectionOptions, temporalSettings } from '../../src/temporal/settings';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-settings-'));
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  fs.writeFileSync(at, text);
  return at;
};
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const CERT = file('client.pem', '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n');
const KEY = file('client.key', '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n');
const NOT_PEM = file('junk.txt', 'hello');

const refused = (env: Record<string, string>, message: RegExp) =>
  assert.throws(() => temporalSettings(env), (err: unknown) => err instanceof TemporalSettingsError && message.test(err.message));

describe('Temporal connection settings', () => {
  it('without TLS variables: plain text, no API key (a local dev server)', () => {
    const settings = temporalSettings({});
    assert.deepEqual(settings, { address: 'localhost:7233', namespace: 'default', taskQueue: 'dockflow' });
    assert.deepEqual(sdkConnectionOptions(settings), { address: 'localhost:7233', tls: false });
  });

  it('reads the CA, client pair and server name, DOCKFLOW_TEMPORAL_* before TEMPORAL_*', () => {
    const settings = temporalSettings({
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      DOCKFLOW_TEMPORAL_TLS_CA: CA,
      TEMPORAL_TLS_CA: '/nonexistent/ignored.pem',
      TEMPORAL_TLS_CERT: CERT,
      TEMPORAL_TLS_KEY: KEY,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      DOCKFLOW_TEMPORAL_API_KEY: 'k1',
      TEMPORAL_API_KEY: 'k2',
    });
    assert.equal(settings.tls?.ca?.toString(), fs.readFileSync(CA, 'utf8'));
    assert.equal(settings.tls?.cert?.toString(), fs.readFileSync(CERT, 'utf8'));
    assert.equal(settings.tls?.key?.toString(), fs.readFileSync(KEY, 'utf8'));
    assert.equal(settings.apiKey, 'k1');
    const options = sdkConnectionOptions(settings);
    assert.equal(options.apiKey, 'k1');
    assert.ok(options.tls);
    assert.equal(options.tls.serverNameOverride, 'temporal.internal');
    assert.equal(options.tls.serverRootCACertificate?.toString(), fs.readFileSync(CA, 'utf8'));
    assert.equal(options.tls.clientCertPair?.crt.toString(), fs.readFileSync(CERT, 'utf8'));
  });

  it('an API key alone turns TLS on with the system roots (as the SDK and the temporal CLI); TLS=false keeps plain text', () => {
    assert.deepEqual(temporalSettings({ TEMPORAL_API_KEY: 'k' }).tls, {});
    assert.deepEqual(sdkConnectionOptions(temporalSettings({ TEMPORAL_API_KEY: 'k' })).tls, {});
    assert.equal(temporalSettings({ TEMPORAL_API_KEY: 'k', DOCKFLOW_TEMPORAL_TLS: 'false' }).tls, undefined);
    assert.deepEqual(temporalSettings({ TEMPORAL_TLS: 'true' }).tls, {});
  });

  it('refuses what cannot work, naming the variable and the file', () => {
    refused({ DOCKFLOW_TEMPORAL_TLS_CA: path.join(dir, 'missing.pem') }, /^DOCKFLOW_TEMPORAL_TLS_CA=.*missing\.pem: cannot read the CA certificate file \(ENOENT\)$/);
    refused({ TEMPORAL_TLS_CA: NOT_PEM }, /^TEMPORAL_TLS_CA=.*junk\.txt: not a PEM CA certificate/);
    refused({ TEMPORAL_TLS_CERT: CERT }, /^TEMPORAL_TLS_CERT is set but no client key: set DOCKFLOW_TEMPORAL_TLS_KEY \(or TEMPORAL_TLS_KEY\) to the key of .*client\.pem$/);
    refused({ DOCKFLOW_TEMPORAL_TLS_KEY: KEY }, /^DOCKFLOW_TEMPORAL_TLS_KEY is set but no client certificate/);
    refused({ DOCKFLOW_TEMPORAL_TLS_CERT: CERT, DOCKFLOW_TEMPORAL_TLS_KEY: CA }, /^DOCKFLOW_TEMPORAL_TLS_KEY=.*ca\.pem: not a PEM client key/);
    refused({ DOCKFLOW_TEMPORAL_TLS: 'false', TEMPORAL_TLS_CA: CA }, /^DOCKFLOW_TEMPORAL_TLS=false, but TEMPORAL_TLS_CA set/);
    refused({ TEMPORAL_TLS: 'yes' }, /^TEMPORAL_TLS=yes: expected true or false$/);
  });
});
