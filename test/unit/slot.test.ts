import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { convergeSlot, mustStart, NOT_STARTED, slotHolder, slotLeftovers, stopTimeoutSec } from '../../src/docker/slot';
import { Label } from '../../src/model/labels';

const names = { canonical: 'shop-web-1', next: 'shop-web-1-new-h2' };

function listed(id: string, name: string, labels: Record<string, string> = {}) {
  return { Id: id, Names: [`/${name}`], Labels: labels };
}
const withHash = (hash: string) => ({ [Label.configHash]: hash });
// How docker compose (v2) labels the containers it starts: no dockflow config hash.
const byCompose = { [Label.project]: 'shop', [Label.composeConfigHash]: 'c0ffee' };

describe('slot decisions (pure builders for convergeContainer)', () => {
  it('creates under the canonical name when the slot is empty', () => {
    assert.deepEqual(convergeSlot([], names, 'h2'), { kind: 'create' });
  });

  it('keeps a holder that already has the desired config hash', () => {
    assert.deepEqual(convergeSlot([listed('a', 'shop-web-1', withHash('h2'))], names, 'h2'), { kind: 'keep', holderId: 'a' });
  });

  it('replaces an older holder, creating the replacement when no earlier attempt did', () => {
    assert.deepEqual(convergeSlot([listed('a', 'shop-web-1', withHash('h1'))], names, 'h2'), { kind: 'replace', holderId: 'a' });
  });

  it('replaces an older holder with the replacement an earlier attempt created', () => {
    const slot = [listed('a', 'shop-web-1', withHash('h1')), listed('b', 'shop-web-1-new-h2', withHash('h2'))];
    assert.deepEqual(convergeSlot(slot, names, 'h2'), { kind: 'replace', holderId: 'a', replacementId: 'b' });
  });

  it('renames the replacement when an earlier attempt removed the holder but died before the rename', () => {
    assert.deepEqual(convergeSlot([listed('b', 'shop-web-1-new-h2', withHash('h2'))], names, 'h2'), { kind: 'rename', replacementId: 'b' });
  });

  it('takes over a container docker compose started under its own name', () => {
    const slot = [listed('c', 'shop_web_1', byCompose)];
    assert.equal(slotHolder(slot, 'shop-web-1')?.Id, 'c');
    assert.deepEqual(convergeSlot(slot, names, 'h2'), { kind: 'replace', holderId: 'c' });
  });

  it('prefers the container with the canonical name over one compose started', () => {
    const slot = [listed('c', 'shop_web_1', byCompose), listed('a', 'shop-web-1', withHash('h2'))];
    assert.deepEqual(convergeSlot(slot, names, 'h2'), { kind: 'keep', holderId: 'a' });
  });

  it('lists every other container of the slot as a leftover, in slot order', () => {
    const slot = [listed('a', 'x'), listed('b', 'y'), listed('c', 'z')];
    assert.deepEqual(slotLeftovers(slot, 'b'), ['a', 'c']);
    assert.deepEqual(slotLeftovers(slot, 'none'), ['a', 'b', 'c']);
  });

  it('rounds the stop grace period up to whole seconds, and leaves Docker its default without one', () => {
    assert.equal(stopTimeoutSec({ stopGracePeriodMs: 1500 }), 2);
    assert.equal(stopTimeoutSec({ stopGracePeriodMs: 0 }), 0);
    assert.equal(stopTimeoutSec({}), undefined);
  });

  it('starts a long-running container only when it is not running', () => {
    const job = { oneShot: false, action: 'create' as const };
    assert.equal(mustStart({ StartedAt: NOT_STARTED, Running: false, ExitCode: 0 }, job), true);
    assert.equal(mustStart({ StartedAt: '2026-11-30T20:00:00Z', Running: true, ExitCode: 0 }, job), false);
    assert.equal(mustStart({ StartedAt: '2026-11-30T20:00:00Z', Running: false, ExitCode: 137 }, job), true);
  });

  it('never runs a one-shot job again on a retried attempt, unless a start asks for it after a failure', () => {
    const ran = { StartedAt: '2026-11-30T20:00:00Z', Running: false };
    assert.equal(mustStart({ StartedAt: NOT_STARTED, Running: false, ExitCode: 0 }, { oneShot: true, action: 'create' }), true);
    assert.equal(mustStart({ StartedAt: '', Running: false, ExitCode: 0 }, { oneShot: true, action: 'recreate' }), true);
    assert.equal(mustStart({ ...ran, ExitCode: 1 }, { oneShot: true, action: 'create' }), false);
    assert.equal(mustStart({ ...ran, ExitCode: 0 }, { oneShot: true, action: 'start' }), false);
    assert.equal(mustStart({ ...ran, ExitCode: 1 }, { oneShot: true, action: 'start' }), true);
  });
});
