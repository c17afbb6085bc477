import type { PeerId, Transport, TransportHandlers } from './transport.js';

/** A frame as the network carried it, for tests that check what went over the wire. */
export interface WireRecord {
  from: PeerId;
  to: PeerId;
  frame: Uint8Array;
}

/** Runs a frame's arrival later: one `setImmediate` by default, a simulated latency in a simulation; a test's lossy link may never run it. */
export type ScheduleArrival = (from: PeerId, to: PeerId, arrive: () => void, frame: Uint8Array) => void;

/**
 * An in-process network of {@link MemoryTransport}s: fast and deterministic
 * (frames arrive in order, one `setImmediate` later unless `schedule` says
 * otherwise). A link can be cut, which drops what is in flight and closes
 * its connections, and restored. Frames a removed node sent before it went
 * still arrive, as bytes in a dead process's socket buffer do.
 */
export class MemoryNetwork {
  constructor(readonly schedule: ScheduleArrival = (_from, _to, arrive) => setImmediate(arrive)) {}

  readonly #transports = new Map<PeerId, MemoryTransport>();
  readonly #cut = new Set<string>();
  /** Every frame the network carried, in order. */
  readonly wire: WireRecord[] = [];
  /** Called synchronously with every frame a node hands to the network, before it travels. */
  onSend: ((record: WireRecord) => void) | undefined;

  transport(peerId: PeerId): MemoryTransport {
    if (this.#transports.has(peerId)) throw new Error(`peer ${peerId} is already on the network`);
    const transport = new MemoryTransport(peerId, this);
    this.#transports.set(peerId, transport);
    return transport;
  }

  /** Removes a transport (its node stopped or crashed): it hears nothing more, and others' frames to it are lost. */
  remove(peerId: PeerId): void {
    this.#transports.get(peerId)?.detach();
    this.#transports.delete(peerId);
    for (const other of this.#transports.values()) other.dropConnection(peerId);
  }

  /** Cuts the link between `a` and `b` both ways: connections close, frames in flight are lost. */
  cut(a: PeerId, b: PeerId): void {
    this.#cut.add(linkKey(a, b));
    this.#transports.get(a)?.dropConnection(b);
    this.#transports.get(b)?.dropConnection(a);
  }

  /** Resets the connections between `a` and `b`: frames in flight are lost; the next send reconnects. */
  reset(a: PeerId, b: PeerId): void {
    this.#transports.get(a)?.dropConnection(b);
    this.#transports.get(b)?.dropConnection(a);
  }

  restore(a: PeerId, b: PeerId): void {
    this.#cut.delete(linkKey(a, b));
  }

  /** @internal The transport at `to`, if the link from `from` is up. */
  reach(from: PeerId, to: PeerId): MemoryTransport | undefined {
    return this.#cut.has(linkKey(from, to)) ? undefined : this.#transports.get(to);
  }
}

const linkKey = (a: PeerId, b: PeerId) => (a < b ? `${a}|${b}` : `${b}|${a}`);

export class MemoryTransport implements Transport {
  readonly #network: MemoryNetwork;
  readonly #open = new Set<PeerId>();
  #handlers: TransportHandlers | undefined;
  /** Bumped when a connection drops, so frames already scheduled on it are lost. */
  readonly #epochs = new Map<PeerId, number>();

  constructor(
    readonly peerId: PeerId,
    network: MemoryNetwork,
  ) {
    this.#network = network;
  }

  addresses(): string[] {
    return [`/memory/${this.peerId}`];
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  /** Any name is a peer id here, and there is no allowlist. */
  checkPeer(): string | undefined {
    return undefined;
  }

  async addPeerAddresses(): Promise<void> {}

  async send(peerId: PeerId, frames: Uint8Array[]): Promise<void> {
    const handlers = this.#requireHandlers();
    const target = this.#network.reach(this.peerId, peerId);
    if (target === undefined) throw new Error(`peer ${peerId} is unreachable`);
    const batch = [...frames];
    if (!this.#open.has(peerId)) {
      this.#open.add(peerId);
      batch.unshift(handlers.helloFrame(peerId));
      handlers.connected(peerId);
      target.#accept(this.peerId);
    }
    const epoch = this.#epochs.get(peerId) ?? 0;
    for (const frame of batch) {
      const copy = frame.slice();
      this.#network.onSend?.({ from: this.peerId, to: peerId, frame: copy });
      this.#network.schedule(this.peerId, peerId, () => {
        if ((this.#epochs.get(peerId) ?? 0) !== epoch) return; // the connection dropped: lost in flight
        this.#network.wire.push({ from: this.peerId, to: peerId, frame: copy });
        target.#deliver(this.peerId, copy);
      }, copy);
    }
  }

  #accept(from: PeerId): void {
    this.#handlers?.connected(from);
  }

  #deliver(from: PeerId, frame: Uint8Array): void {
    this.#handlers?.frame(from, frame);
  }

  /** @internal Its node is gone: frames still arriving for it are lost. */
  detach(): void {
    this.#handlers = undefined;
  }

  /** @internal Closes the connection to `peerId`; frames in flight on it are lost. */
  dropConnection(peerId: PeerId): void {
    this.#epochs.set(peerId, (this.#epochs.get(peerId) ?? 0) + 1);
    if (this.#open.delete(peerId)) this.#handlers?.disconnected(peerId);
  }

  async closePeer(peerId: PeerId): Promise<void> {
    this.#network.reset(this.peerId, peerId);
  }

  async stop(): Promise<void> {
    this.#network.remove(this.peerId);
  }

  #requireHandlers(): TransportHandlers {
    if (this.#handlers === undefined) throw new Error('transport used before setHandlers');
    return this.#handlers;
  }
}
