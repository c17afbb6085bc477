import type { Clock, TimerHandle } from '../util/clock.js';
import type { PeerId, Transport, TransportHandlers } from './transport.js';

/** Probabilities (0..1) of each fault; see {@link FaultyTransport}. */
export interface FaultRates {
  /** A frame handed to `send` is silently lost. */
  drop: number;
  /** A frame is delivered twice (each copy may then be delayed on its own). */
  duplicate: number;
  /** A frame is held back 1..maxDelayMs (clock) ms, then sent on its own: after later frames, maybe over a new connection. */
  delay: number;
  maxDelayMs: number;
  /** Per `send` call: a random prefix of the batch goes out, the rest is lost, and the connection is closed. */
  reset: number;
}

export const noFaults: FaultRates = Object.freeze({ drop: 0, duplicate: 0, delay: 0, maxDelayMs: 0, reset: 0 });

export interface FaultEvent {
  kind: 'drop' | 'duplicate' | 'delay' | 'reset' | 'partition' | 'heal' | 'blocked';
  from: PeerId;
  to: PeerId;
  /** How many frames it hit (drop, duplicate, delay: 1; reset: those lost; blocked: those refused). */
  frames?: number;
  /** How long a delayed frame is held. */
  ms?: number;
}

export interface FaultyTransportOptions {
  /** The only source of randomness: one seed, one sequence of faults. */
  random: () => number;
  /** The only source of time (delays). */
  clock: Clock;
  rates: FaultRates;
  onFault?: (event: FaultEvent) => void;
}

/**
 * A {@link Transport} that wraps another and loses, duplicates, delays
 * (and so reorders) frames, resets connections mid-batch and partitions
 * peers, all decided by `random` and timed by `clock` so a simulation can
 * replay a run from its seed.
 */
export class FaultyTransport implements Transport {
  readonly peerId: PeerId;
  readonly #inner: Transport;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #onFault: ((event: FaultEvent) => void) | undefined;
  #rates: FaultRates;
  readonly #blockedOutbound = new Set<PeerId>();
  readonly #blockedInbound = new Set<PeerId>();
  /** Timers of held (delayed) frames, cancelled by `stop`. */
  readonly #held = new Set<TimerHandle>();
  readonly #counts: Record<FaultEvent['kind'], number> = {
    drop: 0,
    duplicate: 0,
    delay: 0,
    reset: 0,
    partition: 0,
    heal: 0,
    blocked: 0,
  };

  constructor(inner: Transport, options: FaultyTransportOptions) {
    this.peerId = inner.peerId;
    this.#inner = inner;
    this.#random = options.random;
    this.#clock = options.clock;
    this.#rates = options.rates;
    this.#onFault = options.onFault;
  }

  /** How many faults of each kind happened so far (a snapshot). */
  get counts(): Readonly<Record<FaultEvent['kind'], number>> {
    return { ...this.#counts };
  }

  setRates(rates: FaultRates): void {
    this.#rates = rates;
  }

  /**
   * Cuts this node off from `peerId`: outbound, `send` to it rejects as if
   * unreachable (so the session layer retries later); inbound, frames from it
   * never reach the handler. Directions add up until {@link heal}.
   */
  partition(peerId: PeerId, direction: 'both' | 'outbound' | 'inbound'): void {
    if (direction !== 'inbound') this.#blockedOutbound.add(peerId);
    if (direction !== 'outbound') this.#blockedInbound.add(peerId);
    this.#emit({ kind: 'partition', from: this.peerId, to: peerId });
  }

  /** Lifts every partition with `peerId`, or with everyone. */
  heal(peerId?: PeerId): void {
    const peers = peerId === undefined ? new Set([...this.#blockedOutbound, ...this.#blockedInbound]) : [peerId];
    for (const peer of peers) {
      const wasOutbound = this.#blockedOutbound.delete(peer);
      const wasInbound = this.#blockedInbound.delete(peer);
      if (wasOutbound || wasInbound) this.#emit({ kind: 'heal', from: this.peerId, to: peer });
    }
  }

  addresses(): string[] {
    return this.#inner.addresses();
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#inner.setHandlers({
      frame: (peerId, frame) => {
        if (this.#blockedInbound.has(peerId)) {
          this.#emit({ kind: 'blocked', from: peerId, to: this.peerId, frames: 1 });
          return;
        }
        handlers.frame(peerId, frame);
      },
      helloFrame: (peerId) => handlers.helloFrame(peerId),
      connected: (peerId) => handlers.connected(peerId),
      disconnected: (peerId) => handlers.disconnected(peerId),
    });
  }

  checkPeer(peerId: PeerId, addresses: readonly string[]): string | undefined {
    return this.#inner.checkPeer(peerId, addresses);
  }

  addPeerAddresses(peerId: PeerId, addresses: string[]): Promise<void> {
    return this.#inner.addPeerAddresses(peerId, addresses);
  }

  /**
   * Random draws, always in this order so one seed gives one run: per call,
   * reset (then where to cut, if it fires); then per frame kept, drop, then
   * duplicate, then per copy delay (then for how long, if it fires).
   * Being async, it never throws synchronously.
   */
  async send(peerId: PeerId, frames: Uint8Array[]): Promise<void> {
    if (this.#blockedOutbound.has(peerId)) {
      this.#emit({ kind: 'blocked', from: this.peerId, to: peerId, frames: frames.length });
      throw new Error(`peer ${peerId} is unreachable (fault: partition)`);
    }
    const rates = this.#rates;
    const reset = frames.length > 0 && this.#roll(rates.reset);
    // A reset cuts before at least one frame, so something is always lost.
    const kept = reset ? Math.floor(this.#random() * frames.length) : frames.length;
    const now: Uint8Array[] = [];
    for (const frame of frames.slice(0, kept)) {
      if (this.#roll(rates.drop)) {
        this.#emit({ kind: 'drop', from: this.peerId, to: peerId, frames: 1 });
        continue;
      }
      const copies = this.#roll(rates.duplicate) ? 2 : 1;
      if (copies === 2) this.#emit({ kind: 'duplicate', from: this.peerId, to: peerId, frames: 1 });
      for (let copy = 0; copy < copies; copy++) {
        if (this.#roll(rates.delay)) this.#hold(peerId, frame, 1 + Math.floor(this.#random() * rates.maxDelayMs));
        else now.push(frame);
      }
    }
    if (reset) this.#emit({ kind: 'reset', from: this.peerId, to: peerId, frames: frames.length - kept });
    // An empty batch still goes through: the caller may mean only to connect.
    if (now.length > 0 || frames.length === 0) await this.#inner.send(peerId, now);
    if (reset) await this.#inner.closePeer(peerId, 'fault: reset');
  }

  closePeer(peerId: PeerId, reason: string): Promise<void> {
    return this.#inner.closePeer(peerId, reason);
  }

  async stop(): Promise<void> {
    for (const timer of this.#held) this.#clock.clearTimeout(timer);
    this.#held.clear();
    await this.#inner.stop();
  }

  #roll(probability: number): boolean {
    return this.#random() < probability;
  }

  #hold(peerId: PeerId, frame: Uint8Array, ms: number): void {
    this.#emit({ kind: 'delay', from: this.peerId, to: peerId, frames: 1, ms });
    const timer = this.#clock.setTimeout(() => {
      this.#held.delete(timer);
      void this.#sendHeld(peerId, frame);
    }, ms);
    this.#held.add(timer);
  }

  /** A held frame is in flight: a partition that began meanwhile, or a failed send, loses it. */
  async #sendHeld(peerId: PeerId, frame: Uint8Array): Promise<void> {
    if (this.#blockedOutbound.has(peerId)) {
      this.#emit({ kind: 'blocked', from: this.peerId, to: peerId, frames: 1 });
      return;
    }
    try {
      await this.#inner.send(peerId, [frame]);
    } catch {
      // Lost, like anything in flight on a broken connection; the session layer resends.
    }
  }

  #emit(event: FaultEvent): void {
    this.#counts[event.kind]++;
    this.#onFault?.(event);
  }
}
