import type { RemoteRouter } from '../kernel/context.js';
import type { PeerId, Transport, TransportHandlers } from '../net/transport.js';
import { BadFrameError, decodeFrame, encodeFrame, type Frame } from '../remote/frames.js';
import { pairTagOf } from '../remote/pairTag.js';
import type { KernelStore } from '../store/index.js';

/**
 * Deliberate bugs, for proving that the checker can fail. Only the
 * simulation's test-only `sabotage` setting switches one on; no flag,
 * config field or environment variable of the node reaches them. Each
 * enters at a seam (the store, the router, the transport) by wrapping it;
 * none is a branch of the protocol's rules.
 */
export const sabotageNames = [
  /**
   * The sessions hear of every row as soon as it is written, before the
   * COMMIT that holds it (a router seam), and read it as written (a store
   * seam: appends wait in memory for the COMMIT, where a committed read
   * would not find them).
   */
  'transmit-before-commit',
  /** Every message is acked as it arrives, before the crank that consumes it commits (a transport seam). */
  'ack-before-commit',
  /** An ack deletes one committed outbox row more than it acknowledges (a store seam). */
  'lose-outbox-row',
] as const;

export type Sabotage = (typeof sabotageNames)[number];

/** The store as the sabotage has it. */
export function sabotagedStore(store: KernelStore, sabotage: Sabotage | undefined): KernelStore {
  switch (sabotage) {
    case 'transmit-before-commit':
      return {
        ...store,
        outbox: {
          ...store.outbox,
          read: (peerId: string, from: number, to: number, limit: number) => store.tx.readAsWritten(() => store.outbox.read(peerId, from, to, limit)),
        },
      };
    case 'lose-outbox-row':
      return {
        ...store,
        outbox: {
          ...store.outbox,
          deleteUpTo: (peerId: string, seq: number) => {
            // A row committed and not yet acked: one still in the open group is not on the wire, and no ack can reach it.
            const lost = store.outbox.read(peerId, seq + 1, seq + 1, 1).length === 1;
            return store.outbox.deleteUpTo(peerId, lost ? seq + 1 : seq);
          },
        },
      };
    default:
      return store;
  }
}

/** A seam around the router the sessions give the kernel: `released` tells them what is written may go, as a COMMIT does. */
export type RouterSeam = (router: RemoteRouter, released: () => void) => RemoteRouter;

/** The router seam the sabotage needs, if any. */
export function sabotagedRouter(sabotage: Sabotage | undefined): RouterSeam | undefined {
  if (sabotage !== 'transmit-before-commit') return undefined;
  return (router, released) => ({
    // At once, inside the crank that wrote the row: its transaction is open.
    send: (context, endpoint, target, message) => {
      router.send(context, endpoint, target, message);
      released();
    },
    notify: (context, endpoint, kpid) => {
      router.notify(context, endpoint, kpid);
      released();
    },
  });
}

/** The transport as the sabotage has it. */
export function sabotagedTransport(transport: Transport, sabotage: Sabotage | undefined): Transport {
  return sabotage === 'ack-before-commit' ? new EagerAcks(transport) : transport;
}

/**
 * Acks each `msg` frame the moment it arrives, with the window this node
 * last told the peer: the peer deletes the row before the crank that
 * consumes it has committed, and a crash then loses the message.
 */
class EagerAcks implements Transport {
  readonly peerId: PeerId;
  readonly #inner: Transport;
  readonly #windows = new Map<PeerId, number>();
  /** The pair tag this node's frames to the peer carry (from its last frame, a hello's incarnations included). */
  readonly #pairs = new Map<PeerId, string>();

  constructor(inner: Transport) {
    this.#inner = inner;
    this.peerId = inner.peerId;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#inner.setHandlers({
      ...handlers,
      helloFrame: (peerId) => this.#noteWindow(peerId, handlers.helloFrame(peerId)),
      frame: (peerId, bytes) => {
        handlers.frame(peerId, bytes);
        const frame = decodeFrameOrUndefined(bytes);
        const window = this.#windows.get(peerId);
        const pair = this.#pairs.get(peerId);
        if (frame?.type === 'msg' && window !== undefined && pair !== undefined) {
          // `sent` as high as a seq goes: the ack deletes the peer's row, and retires nothing (its fault is the lost message alone).
          this.#inner.send(peerId, [encodeFrame({ type: 'ack', ack: frame.seq, window, pair, sent: Number.MAX_SAFE_INTEGER })]).catch(() => {});
        }
      },
    });
  }

  addresses(): string[] {
    return this.#inner.addresses();
  }

  checkPeer(peerId: PeerId, addresses: readonly string[]): string | undefined {
    return this.#inner.checkPeer(peerId, addresses);
  }

  addPeerAddresses(peerId: PeerId, addresses: string[]): Promise<void> {
    return this.#inner.addPeerAddresses(peerId, addresses);
  }

  send(peerId: PeerId, frames: Uint8Array[]): Promise<void> {
    for (const frame of frames) this.#noteWindow(peerId, frame);
    return this.#inner.send(peerId, frames);
  }

  closePeer(peerId: PeerId, reason: string): Promise<void> {
    return this.#inner.closePeer(peerId, reason);
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }

  #noteWindow(peerId: PeerId, bytes: Uint8Array): Uint8Array {
    const frame = decodeFrameOrUndefined(bytes);
    if (frame === undefined) return bytes;
    this.#windows.set(peerId, frame.window);
    this.#pairs.set(peerId, frame.type === 'hello' ? pairTagOf(frame.incarnation, frame.yourIncarnation) : frame.pair);
    return bytes;
  }
}

/** The frame, or undefined for bytes that are not one (the sessions refuse those; the sabotage leaves them be). */
function decodeFrameOrUndefined(bytes: Uint8Array): Frame | undefined {
  try {
    return decodeFrame(bytes);
  } catch (error) {
    if (error instanceof BadFrameError) return undefined;
    throw error;
  }
}
