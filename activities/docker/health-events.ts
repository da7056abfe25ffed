/**
 * Wakes a health wait as soon as the engine reports that the container's
 * health changed (issue 17), instead of at its next poll: every level of a
 * depends_on chain waits on this before the next level is created, and the
 * last level's wait before the deploy ends, so the poll's 125 ms on average
 * (250 ms at worst) added up along the chain.
 *
 * The poll stays the truth: an event only ends the sleep early, and the wait
 * inspects the container as before. One stream of the engine's
 * `health_status` events (sent only when a status changes) serves every wait
 * of the worker; it is opened by the first wait and closed once no wait used
 * it for IDLE_CLOSE_MS. A stream that fails or ends is opened again by the
 * next wait; meanwhile the waits poll, as they did without it.
 */
import type Docker from 'dockerode';

const IDLE_CLOSE_MS = 5_000;

type EventStream = NodeJS.ReadableStream & { destroy(): void };

export class HealthEvents {
  private stream?: EventStream;
  private opening?: Promise<void>;
  private idleTimer?: NodeJS.Timeout;
  /** Health events seen per container name since the stream opened, so a change during an inspect is not missed. */
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly docker: Pick<Docker, 'getEvents'>) {}

  /** How many health events of `name` were seen so far: pass it to sleep() after the inspect it precedes. */
  mark(name: string): number {
    this.open();
    return this.seen.get(name) ?? 0;
  }

  /** Until `ms` passed or a health event of `name` came after `mark` (at once if one already did). */
  async sleep(name: string, ms: number, mark: number): Promise<void> {
    if ((this.seen.get(name) ?? 0) > mark) return;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const mine = this.waiters.get(name) ?? new Set();
    mine.add(wake);
    this.waiters.set(name, mine);
    const timer = setTimeout(wake, ms);
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      mine.delete(wake);
      if (mine.size === 0) this.waiters.delete(name);
      this.closeWhenIdle();
    }
  }

  private open(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.stream || this.opening) return;
    this.opening = (async () => {
      try {
        const stream = (await this.docker.getEvents({ filters: { type: ['container'], event: ['health_status'] } })) as unknown as EventStream;
        this.stream = stream;
        // The stream only wakes waits early: it must never keep a worker (or `dev --exit-after-demo`) alive by itself.
        (stream as { socket?: { unref?: () => void } }).socket?.unref?.();
        let buffer = '';
        stream.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + 1);
            this.dispatch(line);
          }
        });
        const forget = () => {
          if (this.stream === stream) this.stream = undefined;
        };
        stream.on('error', forget);
        stream.on('end', forget);
        stream.on('close', forget);
      } catch {
        // No stream (an engine without events, a transport error): the waits poll.
      } finally {
        this.opening = undefined;
        // A wait that found the container healthy at its first inspect never sleeps, so never arms the idle close itself.
        this.closeWhenIdle();
      }
    })();
  }

  private dispatch(line: string): void {
    let name: string | undefined;
    try {
      name = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.name;
    } catch {
      return;
    }
    if (!name) return;
    this.seen.set(name, (this.seen.get(name) ?? 0) + 1);
    for (const wake of this.waiters.get(name) ?? []) wake();
  }

  private closeWhenIdle(): void {
    if (this.waiters.size > 0 || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.waiters.size > 0) return;
      this.stream?.destroy();
      this.stream = undefined;
      this.seen.clear();
    }, IDLE_CLOSE_MS);
    // An idle stream's timer must not keep a worker that is shutting down alive.
    this.idleTimer.unref();
  }
}
