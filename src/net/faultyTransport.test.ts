import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../util/clock.js';
import { seededRandom } from '../util/random.js';
import { type FaultEvent, type FaultRates, FaultyTransport, noFaults } from './faultyTransport.js';
import type { PeerId, Transport, TransportHandlers } from './transport.js';

/** Virtual time: timers run only in `advance`, in (due time, creation) order. */
class ManualClock implements Clock {
  #now = 0;
  #nextId = 0;
  #timers: { at: number; id: number; callback: () => void }[] = [];

  now(): number {
    return this.#now;
  }

  epochMs(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { at: this.#now + ms, id: this.#nextId++, callback };
    this.#timers.push(timer);
    return { timer };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.#timers = this.#timers.filter((timer) => timer !== handle?.timer);
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((timer) => timer !== due);
      this.#now = due.at;
      due.callback();
    }
    this.#now = end;
  }
}

type Call = { op: 'send'; to: PeerId; frames: number[] } | { op: 'closePeer'; to: PeerId; reason: string } | { op: 'stop' };

/** An inner transport that only records what it was asked to do. */
class FakeTransport implements Transport {
  readonly peerId = 'me';
  readonly calls: Call[] = [];
  handlers: TransportHandlers | undefined;
  unreachable = false;

  addresses(): string[] {
    return ['/fake/me'];
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  checkPeer(): string | undefined {
    return undefined;
  }

  async addPeerAddresses(): Promise<void> {}

  async send(to: PeerId, frames: Uint8Array[]): Promise<void> {
    this.calls.push({ op: 'send', to, frames: frames.map(decode) });
    if (this.unreachable) throw new Error(`peer ${to} is unreachable`);
  }

  async closePeer(to: PeerId, reason: string): Promise<void> {
    this.calls.push({ op: 'closePeer', to, reason });
  }

  async stop(): Promise<void> {
    this.calls.push({ op: 'stop' });
  }
}

const encode = (n: number) => new TextEncoder().encode(String(n));
const decode = (frame: Uint8Array) => Number(new TextDecoder().decode(frame));
const batch = (from: number, count: number) => Array.from({ length: count }, (_, i) => encode(from + i));
const sentFrames = (calls: Call[]) => calls.flatMap((call) => (call.op === 'send' ? call.frames : []));

function setup(rates: Partial<FaultRates>, random: () => number = seededRandom(1)) {
  const inner = new FakeTransport();
  const clock = new ManualClock();
  const events: FaultEvent[] = [];
  const transport = new FaultyTransport(inner, {
    random,
    clock,
    rates: { ...noFaults, ...rates },
    onFault: (event) => events.push(event),
  });
  return { inner, clock, events, transport };
}

describe('FaultyTransport', () => {
  it('passes frames through unchanged and in order when every rate is 0', async () => {
    const { inner, events, transport } = setup({});
    await transport.send('a', batch(1, 5));
    await transport.send('b', batch(6, 2));
    expect(inner.calls).toEqual([
      { op: 'send', to: 'a', frames: [1, 2, 3, 4, 5] },
      { op: 'send', to: 'b', frames: [6, 7] },
    ]);
    expect(events).toEqual([]);
    expect(transport.peerId).toBe('me');
    expect(transport.addresses()).toEqual(['/fake/me']);
  });

  it('with drop=1 loses every frame, yet send resolves', async () => {
    const { inner, events, transport } = setup({ drop: 1 });
    await expect(transport.send('a', batch(1, 3))).resolves.toBeUndefined();
    expect(inner.calls).toEqual([]);
    expect(events.map((event) => event.kind)).toEqual(['drop', 'drop', 'drop']);
    expect(transport.counts.drop).toBe(3);
  });

  it('with duplicate=1 sends each frame twice, in place', async () => {
    const { inner, transport } = setup({ duplicate: 1 });
    await transport.send('a', batch(1, 3));
    expect(inner.calls).toEqual([{ op: 'send', to: 'a', frames: [1, 1, 2, 2, 3, 3] }]);
    expect(transport.counts.duplicate).toBe(3);
  });

  it('with delay=1 holds frames until the clock reaches them, letting later frames overtake', async () => {
    const { inner, clock, events, transport } = setup({ delay: 1, maxDelayMs: 10 });
    await transport.send('a', batch(1, 3));
    expect(inner.calls).toEqual([]);
    transport.setRates(noFaults);
    await transport.send('a', batch(4, 1));
    expect(inner.calls).toEqual([{ op: 'send', to: 'a', frames: [4] }]);
    const delays = events.map((event) => event.ms ?? 0);
    expect(delays.every((ms) => ms >= 1 && ms <= 10)).toBe(true);
    clock.advance(Math.min(...delays) - 1);
    expect(inner.calls).toHaveLength(1);
    clock.advance(10);
    // Each held frame goes alone, at its own time.
    expect(inner.calls.slice(1).every((call) => call.op === 'send' && call.frames.length === 1)).toBe(true);
    expect(sentFrames(inner.calls).slice(1).sort()).toEqual([1, 2, 3]);
  });

  it('swallows the failure of a held frame and cancels held frames on stop', async () => {
    const { inner, clock, transport } = setup({ delay: 1, maxDelayMs: 5 });
    await transport.send('a', batch(1, 1));
    inner.unreachable = true;
    clock.advance(5); // a rejection here would fail the run as unhandled
    await transport.send('a', batch(2, 1));
    await transport.stop();
    clock.advance(5);
    expect(inner.calls).toEqual([{ op: 'send', to: 'a', frames: [1] }, { op: 'stop' }]);
  });

  it('with reset=1 sends a prefix of the batch, loses the rest and closes the connection', async () => {
    // Every draw is 0.5: reset fires, cuts at 10 * 0.5, and no other fault fires.
    const { inner, events, transport } = setup({ reset: 1 }, () => 0.5);
    await transport.send('a', batch(1, 10));
    expect(inner.calls).toEqual([
      { op: 'send', to: 'a', frames: [1, 2, 3, 4, 5] },
      { op: 'closePeer', to: 'a', reason: 'fault: reset' },
    ]);
    expect(events).toEqual([{ kind: 'reset', from: 'me', to: 'a', frames: 5 }]);
  });

  it('rejects sends across an outbound partition and hides frames across an inbound one, until healed', async () => {
    const { inner, transport } = setup({});
    const seen: string[] = [];
    transport.setHandlers({
      frame: (peerId, frame) => seen.push(`${peerId}:${decode(frame)}`),
      helloFrame: () => encode(0),
      connected: (peerId) => seen.push(`+${peerId}`),
      disconnected: (peerId) => seen.push(`-${peerId}`),
    });
    const handlers = inner.handlers!;

    transport.partition('a', 'outbound');
    transport.partition('b', 'inbound');
    const refused = transport.send('a', batch(1, 2)); // must not throw synchronously
    await expect(refused).rejects.toThrow(/unreachable/);
    await transport.send('b', batch(3, 1));
    handlers.connected('b');
    handlers.frame('b', encode(4));
    handlers.frame('a', encode(5));
    handlers.disconnected('b');
    expect(inner.calls).toEqual([{ op: 'send', to: 'b', frames: [3] }]);
    expect(seen).toEqual(['+b', 'a:5', '-b']);
    expect(handlers.helloFrame('b')).toEqual(encode(0));

    transport.partition('a', 'inbound'); // adds to the outbound partition with 'a'
    handlers.frame('a', encode(6));
    await expect(transport.send('a', batch(7, 1))).rejects.toThrow();
    transport.heal('a');
    await transport.send('a', batch(8, 1));
    handlers.frame('a', encode(9));
    handlers.frame('b', encode(10));
    transport.heal();
    handlers.frame('b', encode(11));
    expect(sentFrames(inner.calls)).toEqual([3, 8]);
    expect(seen).toEqual(['+b', 'a:5', '-b', 'a:9', 'b:11']);
    expect(transport.counts).toMatchObject({ partition: 3, heal: 2, blocked: 5 });
  });

  it('makes the same decisions from the same seed, and different ones from another', async () => {
    const rates: FaultRates = { drop: 0.2, duplicate: 0.2, delay: 0.2, maxDelayMs: 50, reset: 0.3 };
    async function run(seed: number) {
      const { inner, clock, events, transport } = setup(rates, seededRandom(seed));
      for (let i = 0; i < 20; i++) {
        await transport.send(i % 2 === 0 ? 'a' : 'b', batch(i * 10, 10));
        clock.advance(7);
      }
      clock.advance(50);
      return { calls: inner.calls, events, counts: transport.counts };
    }
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
    // Every kind of fault happened, so the comparison covers them all.
    for (const kind of ['drop', 'duplicate', 'delay', 'reset'] as const) expect(first.counts[kind]).toBeGreaterThan(0);
  });
});
