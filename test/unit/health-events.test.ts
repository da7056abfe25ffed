/**
 * Health waits wake on the engine's health_status events (activities/docker/health-events.ts):
 * at once for their own container, not for another's, also for an event that
 * came between the mark and the sleep (during the inspect), and without an
 * event stream they sleep their whole poll interval, as before.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { HealthEvents } from '../../activities/docker/health-events';

const event = (name: string, status = 'healthy') => `${JSON.stringify({ Type: 'container', Action: `health_status: ${status}`, Actor: { Attributes: { name } } })}\n`;

function engine() {
  const stream = new PassThrough();
  const asked: unknown[] = [];
  const docker = {
    getEvents: async (options: unknown) => {
      asked.push(options);
      return stream;
    },
  } as unknown as Pick<Docker, 'getEvents'>;
  return { docker, stream, asked };
}

const elapsed = async (run: () => Promise<void>) => {
  const started = Date.now();
  await run();
  return Date.now() - started;
};

describe('HealthEvents', () => {
  it('wakes a wait when its container\'s health changes, not when another\'s does', async () => {
    const { docker, stream, asked } = engine();
    const events = new HealthEvents(docker);
    const mark = events.mark('p-web-1');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(asked, [{ filters: { type: ['container'], event: ['health_status'] } }]);
    const took = await elapsed(async () => {
      const sleeping = events.sleep('p-web-1', 5_000, mark);
      setTimeout(() => stream.write(event('p-db-1')), 20);
      // Split across chunks, as the engine's stream may deliver it.
      setTimeout(() => {
        const line = event('p-web-1');
        stream.write(line.slice(0, 10));
        stream.write(line.slice(10));
      }, 150);
      await sleeping;
    });
    assert.ok(took >= 140 && took < 1_000, `woken after ${took} ms: by its own event, not the other container's`);
    stream.destroy();
  });

  it('returns at once for an event that came between the mark and the sleep', async () => {
    const { docker, stream } = engine();
    const events = new HealthEvents(docker);
    events.mark('p-web-1');
    await new Promise((r) => setImmediate(r));
    const mark = events.mark('p-web-1');
    stream.write(event('p-web-1'));
    await new Promise((r) => setTimeout(r, 20));
    assert.ok((await elapsed(() => events.sleep('p-web-1', 5_000, mark))) < 100);
    stream.destroy();
  });

  it('sleeps the whole interval when the engine gives no event stream', async () => {
    const events = new HealthEvents({ getEvents: async () => Promise.reject(new Error('no events here')) } as unknown as Pick<Docker, 'getEvents'>);
    const mark = events.mark('p-web-1');
    const took = await elapsed(() => events.sleep('p-web-1', 200, mark));
    assert.ok(took >= 190, `slept ${took} ms`);
  });
});
