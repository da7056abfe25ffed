import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeadWorkerOfThisHost, parseIdentity, processStartTicks, workerIdentity } from '../../workers/reclaim';

describe('worker identities and dead workers of this host', () => {
  it('names host, PID and the PID\'s start time, and parses back', () => {
    const me = workerIdentity(process.pid, 'vps1');
    const parsed = parseIdentity(me);
    assert.deepEqual(parsed, { host: 'vps1', pid: process.pid, started: processStartTicks(process.pid) });
    assert.match(parsed!.started, /^\d+$/);
    assert.equal(parseIdentity('12345@vps1'), undefined, "the SDK's default identity is not ours");
    assert.equal(parseIdentity('dockflow-worker/vps1/abc/1'), undefined);
  });

  it('is dead only when ours by host, with a known start time, and that PID is gone or started at another time', () => {
    const me = 'dockflow-worker/vps1/100/5000';
    const ticks = (table: Record<number, string>) => (pid: number) => table[pid];
    assert.equal(isDeadWorkerOfThisHost('dockflow-worker/vps1/200/4000', me, ticks({})), true, 'PID gone');
    assert.equal(isDeadWorkerOfThisHost('dockflow-worker/vps1/1/4000', me, ticks({ 1: '4900' })), true, 'PID 1 of a restarted container');
    assert.equal(isDeadWorkerOfThisHost('dockflow-worker/vps1/200/4000', me, ticks({ 200: '4000' })), false, 'still running');
    assert.equal(isDeadWorkerOfThisHost('dockflow-worker/vps2/200/4000', me, ticks({})), false, 'another host');
    assert.equal(isDeadWorkerOfThisHost('dockflow-worker/vps1/200/?', me, ticks({})), false, 'start time unknown');
    assert.equal(isDeadWorkerOfThisHost('4321@vps1', me, ticks({})), false, 'not a dockflow identity');
    assert.equal(isDeadWorkerOfThisHost(me, me, ticks({})), false, 'itself');
  });
});
