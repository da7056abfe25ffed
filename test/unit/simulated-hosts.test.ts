import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { numberedHosts, simulatedHostPlace } from '../../src/dev/simulated-hosts';

describe('simulated host places', () => {
  it('gives host-1 of two state dirs two daemons (no bed terminates another bed\'s host-1)', () => {
    const a = simulatedHostPlace('/tmp/bed-a', 'host-1');
    const b = simulatedHostPlace('/tmp/bed-b', 'host-1');
    for (const key of ['runDir', 'dataRoot', 'socketPath', 'netns'] as const) assert.notEqual(a[key], b[key], key);
  });

  it('is the same place for the same state dir and name, whatever the path spelling', () => {
    assert.deepEqual(simulatedHostPlace('/tmp/bed-a/', 'host-2'), simulatedHostPlace('/tmp/./bed-a', 'host-2'));
    assert.equal(simulatedHostPlace('/tmp/bed-a', 'host-2').socketPath, '/tmp/bed-a/hosts/host-2/docker.sock');
  });

  it('keeps containerd\'s socket path under the unix limit and refuses a bad host name', () => {
    const place = simulatedHostPlace('/tmp/x', 'host-20');
    assert.ok(`${place.runDir}/exec/containerd/containerd-debug.sock`.length < 108, place.runDir);
    assert.throws(() => simulatedHostPlace('/tmp/x', '../etc'), /not a valid host name/);
  });

  it('names dev hosts host-1 … host-N', () => {
    assert.deepEqual(numberedHosts(3).map((h) => h.name), ['host-1', 'host-2', 'host-3']);
  });
});
