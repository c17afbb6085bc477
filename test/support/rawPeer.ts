import { decodeFrame, encodeFrame, flipRef, type Frame, type MessageBody } from '../../src/remote/frames.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import type { Transport } from '../../src/net/transport.js';
import { eventually } from './nodes.js';

/** A resolution the node sent the raw peer, named by the peer's own ref (`p+N`). */
export interface Answer {
  rejected: boolean;
  body: string;
  slots: string[];
}

const windowAhead = 10_000;

/**
 * A peer that speaks ken frames by hand over a real transport, as a holder
 * of a node's ocap URL could: it says hello with the node's incarnation (so
 * its acks count), numbers its own messages, acks everything the node
 * sends it (unless told to hold its acks), and keeps the node's answers (resolutions of its result
 * promises) by the ref it chose. What it sends is up to the test, valid
 * or not.
 */
export class RawPeer {
  readonly incarnation = 'c0'.repeat(16);
  /** The pair tag its `msg` and `ack` frames carry: its incarnation and the node's, which its hello names. */
  readonly pair: string;
  readonly answers = new Map<string, Answer>();
  /** Times the node closed the connection on it. */
  disconnects = 0;
  /** While true, it acks nothing the node sends it until the test says so ({@link ack}). */
  holdingAcks = false;
  #seq = 0;
  #receivedFromNode = 0;
  #acking: Promise<void> = Promise.resolve();

  constructor(
    readonly transport: Transport,
    private readonly nodePeerId: string,
    /** The node's incarnation as the peer says it knows it; null: a first contact. */
    nodeIncarnation: string | null,
  ) {
    this.pair = pairTagOf(this.incarnation, nodeIncarnation);
    transport.setHandlers({
      frame: (_peerId, bytes) => this.#onFrame(decodeFrame(bytes)),
      helloFrame: () =>
        encodeFrame({ type: 'hello', incarnation: this.incarnation, yourIncarnation: nodeIncarnation, receivedSeq: this.#receivedFromNode, receivedDigest: null, window: this.#receivedFromNode + windowAhead, sentSeq: this.#seq, ackedSeq: 0, addresses: [], startedOver: null }),
      connected: () => {},
      disconnected: () => void (this.disconnects += 1),
    });
  }

  /** The sequence number the next message will carry. */
  get nextSeq(): number {
    return this.#seq + 1;
  }

  /** Sends `body` as the peer's next message (it may be anything: the frame is encoded as JSON as it is). */
  async send(body: MessageBody | Record<string, unknown>): Promise<number> {
    this.#seq += 1;
    // What it had consumed, as an honest peer says (a test may say otherwise).
    const withSeen = 'seen' in body ? body : { ...body, seen: this.#receivedFromNode };
    await this.sendFrame({ type: 'msg', seq: this.#seq, ack: this.#receivedFromNode, window: this.#receivedFromNode + windowAhead, pair: this.pair, body: withSeen });
    return this.#seq;
  }

  async sendFrame(frame: unknown): Promise<void> {
    await this.transport.send(this.nodePeerId, [new TextEncoder().encode(JSON.stringify(frame))]);
  }

  /** Acks what the node sent it so far, saying its messages made until now end at `sent` (an honest peer's: its last seq). */
  async ack(sent = this.#seq): Promise<void> {
    const ack = this.#receivedFromNode;
    await this.sendFrame({ type: 'ack', ack, window: ack + windowAhead, pair: this.pair, sent });
  }

  /** The node's answer to the result `ref` (`p+N`) once it comes. */
  async answer(ref: string, timeoutMs = 20_000): Promise<Answer> {
    await eventually(`the answer to ${ref}`, () => this.answers.has(ref), timeoutMs);
    return this.answers.get(ref) as Answer;
  }

  #onFrame(frame: Frame): void {
    if (frame.type !== 'msg' || frame.seq !== this.#receivedFromNode + 1) return;
    this.#receivedFromNode = frame.seq;
    if (frame.body.kind === 'notify') {
      for (const [ref, rejected, data] of frame.body.resolutions) this.answers.set(flipRef(ref), { rejected, ...data });
    }
    if (this.holdingAcks) return;
    const ack = this.#receivedFromNode;
    const sent = this.#seq;
    this.#acking = this.#acking.then(() => this.sendFrame({ type: 'ack', ack, window: ack + windowAhead, pair: this.pair, sent })).catch(() => {});
  }
}
