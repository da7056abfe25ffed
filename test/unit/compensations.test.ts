import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { Compensations, type Shield } from '../../workflows/compensations';

/** A shield that says whether a step ran inside it (a workflow's is CancellationScope.nonCancellable). */
function spyShield(): { shield: Shield; inside: () => boolean; entered: () => number } {
  let depth = 0;
  let entered = 0;
  const shield: Shield = async (fn) => {
    depth += 1;
    entered += 1;
    try {
      return await fn();
    } finally {
      depth -= 1;
    }
  };
  return { shield, inside: () => depth > 0, entered: () => entered };
}

describe('compensations (one undo, saga style)', () => {
  it('runs the steps newest first, each once, all inside the shield', async () => {
    const { shield, inside, entered } = spyShield();
    const undo = new Compensations(shield);
    const ran: string[] = [];
    for (const name of ['remove helpers', 'start the containers again', 'settle the data sets']) {
      undo.push({ title: name, run: async () => ran.push(`${name}${inside() ? '' : ' (outside the shield)'}`) });
    }
    assert.equal(undo.size, 3);
    assert.deepEqual(await undo.run(), []);
    assert.deepEqual(ran, ['settle the data sets', 'start the containers again', 'remove helpers']);
    assert.equal(entered(), 1);
    // Each step runs once: a second run has nothing left to do.
    assert.equal(undo.size, 0);
    await undo.run();
    assert.equal(ran.length, 3);
  });

  it('records a failed step with its title and root message, and goes on with the next', async () => {
    const undo = new Compensations(spyShield().shield);
    const ran: string[] = [];
    undo.push({ title: 'start the containers again', run: async () => ran.push('start') });
    const putBack = undo.push({
      title: 'restore backup b1',
      run: async () => {
        ran.push('restore');
        throw new Error('activity failed', { cause: ApplicationFailure.nonRetryable('archive vol.tar.gz is corrupt', 'BackupCorrupt') });
      },
    });
    const stop = undo.push({ title: 'stop web-run-1', run: async () => ran.push('stop') });
    const problems = await undo.run();
    assert.deepEqual(ran, ['stop', 'restore', 'start']);
    assert.deepEqual(problems, [{ title: 'restore backup b1', message: 'archive vol.tar.gz is corrupt' }]);
    assert.deepEqual(undo.messages, ['archive vol.tar.gz is corrupt']);
    assert.equal(undo.failureOf(putBack), 'archive vol.tar.gz is corrupt');
    assert.equal(undo.failureOf(stop), undefined);
  });

  it("stops at a failed 'abort' step and throws its failure; the steps pushed before it never run", async () => {
    const undo = new Compensations(spyShield().shield);
    const ran: string[] = [];
    undo.push({ title: 'remove helpers', onFailure: 'abort', run: async () => ran.push('helpers') });
    undo.push({ title: 'start the containers again', run: async () => ran.push('start') });
    const boom = new Error('daemon gone');
    undo.push({
      title: 'stop web-run-1',
      onFailure: 'abort',
      run: async () => {
        ran.push('stop');
        throw boom;
      },
    });
    undo.push({
      title: 'settle',
      run: async () => {
        ran.push('settle');
        throw new Error('settle failed');
      },
    });
    await assert.rejects(undo.run(), (err) => err === boom);
    assert.deepEqual(ran, ['settle', 'stop']);
    // What failed before the abort is still recorded.
    assert.deepEqual(undo.problems, [{ title: 'settle', message: 'settle failed' }]);
  });

  it('attempt records each part of a step on its own, in order, and the step goes on', async () => {
    const undo = new Compensations(spyShield().shield);
    const settled: string[] = [];
    undo.push({ title: 'start the containers again', run: async () => settled.push('start') });
    undo.push({
      title: 'settle the data sets touched',
      run: async () => {
        for (const key of ['db', 'uploads', 'cache']) {
          await undo.attempt(`settle volume ${key}`, async () => {
            settled.push(key);
            if (key !== 'cache') throw new Error(`${key}: staging copy unreadable`);
          });
        }
      },
    });
    await undo.run();
    assert.deepEqual(settled, ['db', 'uploads', 'cache', 'start']);
    assert.deepEqual(undo.problems, [
      { title: 'settle volume db', message: 'db: staging copy unreadable' },
      { title: 'settle volume uploads', message: 'uploads: staging copy unreadable' },
    ]);
  });

  it('a failure inside the shield itself (a cancelled scope, say) reaches the caller', async () => {
    const refusing: Shield = async () => {
      throw new Error('scope refused');
    };
    const undo = new Compensations(refusing);
    let ran = false;
    undo.push({ title: 'x', run: async () => (ran = true) });
    await assert.rejects(undo.run(), /scope refused/);
    assert.equal(ran, false);
  });
});
