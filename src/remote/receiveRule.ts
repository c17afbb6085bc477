import type { KernelContext } from '../kernel/context.js';
import type { PeerId } from '../net/transport.js';
import { bodyDigest, type PeerRecord } from '../store/peers.js';
import type { Frame } from './frames.js';
import { consumeMessage, retireThrough } from './inbound.js';
import { pairTagOf } from './pairTag.js';
import { ProtocolError } from './remoteTranslator.js';
import type { Session, SessionEnvironment, SessionStats, SessionTable } from './session.js';
import type { Transmitter } from './transmitter.js';

type MsgFrame = Extract<Frame, { type: 'msg' }>;
type AckFrame = Extract<Frame, { type: 'ack' }>;

/**
 * The receive rule for a peer's messages and acks: a message is consumed
 * exactly when its seq is the next one, in the crank that records it; an
 * ack deletes the outbox rows it covers. A cheap screen before the crank
 * drops what cannot be new (duplicates, gaps, frames past the granted
 * window); the crank judges again against the store.
 */
export class ReceiveRule {
  constructor(
    private readonly table: SessionTable,
    private readonly transmitter: Transmitter,
    private readonly stats: SessionStats,
    private readonly environment: SessionEnvironment,
    private readonly hooks: {
      /** Queues a crank of the receive rule for `peerId`. */
      queue(peerId: PeerId, apply: (context: KernelContext) => void): void;
      /** An ack made room in the peer's outbox. */
      roomFor(peerId: PeerId): void;
      /** A message from the peer was refused (bad arguments), after the commit that consumed it. */
      refused(peerId: PeerId, reasons: string[]): void;
      /** The incarnation this node presents to the peer, as the store has it in the crank. */
      incarnationFor(peer: PeerRecord): string;
    },
  ) {}

  /** The body of the last message consumed from each peer in the crank in progress, digested at its end ({@link endOfRun}). */
  readonly #lastConsumed = new Map<PeerId, MsgFrame['body']>();

  /** A receive crank begins: nothing of an earlier one (rolled back, maybe) is pending. */
  startOfRun(): void {
    this.#lastConsumed.clear();
  }

  /**
   * A receive crank's steps are done: each peer's row gets the digest of
   * the last message consumed from it (one digest a run, not one a message;
   * nothing reads it within the run).
   */
  endOfRun(context: KernelContext): void {
    for (const [peerId, body] of this.#lastConsumed) context.store.peers.setReceivedDigest(peerId, bodyDigest(JSON.stringify(body)));
    this.#lastConsumed.clear();
  }

  /**
   * Drops a duplicate, out-of-order or out-of-window `msg` before it costs a
   * crank (resends after a reconnect bring many). Returns true if the frame
   * was handled here. The crank still checks the sequence against the
   * store: this is a filter, not the rule.
   */
  screen(session: Session, frame: MsgFrame, startOvers: number): boolean {
    const ackCounts = this.judgeAckOrAskForHello(session, frame.ack);
    if (frame.seq === session.queuedSeq + 1) {
      if (!session.credit.admits(frame.seq)) {
        this.stats.framesBeyondWindow += 1;
        return true;
      }
      session.queuedSeq = frame.seq;
      return false;
    }
    if (frame.seq <= session.queuedSeq) {
      this.stats.duplicatesDropped += 1;
      session.ackSent = -1;
      this.transmitter.transmit(session);
    } else {
      this.stats.gapsDropped += 1;
      // Frames lost on the way are the sender's to resend; a hello only if this node never heard one from it.
      if (session.peerIncarnation === null) this.transmitter.helloNowAndThen(session);
    }
    // Its ack may still be news.
    if (ackCounts) {
      this.hooks.queue(session.peerId, (context) => this.ack(context, session.peerId, frame, startOvers));
    }
    return true;
  }

  /**
   * True if an ack from the peer counts. An ack that would be news from a
   * peer whose acks this node cannot judge (it has heard no hello from it
   * in this process: the one that opened the peer's stream was lost)
   * makes this node ask for one, at most once per `resendMs`: without it the
   * peer's acks are ignored for as long as its stream lasts, and this
   * node's outbox never drains. (The peer answers a hello that shows it
   * lacks its acks: `HelloRule`.)
   */
  judgeAckOrAskForHello(session: Session, ack: number): boolean {
    if (ack <= session.ackedSeq) return false;
    if (session.peerAcksValid) return true;
    if (!session.helloHeard) this.transmitter.helloNowAndThen(session);
    return false;
  }

  /**
   * True for a frame screened when the pair had started over `startOvers`
   * times, if it has started over since (in a crank before this one, maybe
   * in the same group of cranks, whose COMMIT has not yet told the session):
   * it is the old pair's, and says nothing of the new one. Counted, not read.
   */
  #ofOldPair(context: KernelContext, peerId: PeerId, startOvers: number): boolean {
    if ((context.store.peers.get(peerId)?.startOvers ?? 0) === startOvers) return false;
    this.stats.framesOfMismatchedPair += 1;
    return true;
  }

  /**
   * True for a frame whose pair tag (`pairTag.ts`) names another pair than
   * the store's, in this crank: the old pair's, read after the start-over
   * (or a peer's error, which is no worse to ignore). A tag that names no
   * incarnation of this node counts only while the pair never started over:
   * the peer has not heard this node's hello yet. Counted, not read.
   */
  #ofOtherPair(peer: PeerRecord, pair: string): boolean {
    const sender = peer.incarnation ?? '';
    if (pair === pairTagOf(sender, this.hooks.incarnationFor(peer))) return false;
    if (peer.startOvers === 0 && pair === pairTagOf(sender, null)) return false;
    this.stats.framesOfMismatchedPair += 1;
    return true;
  }

  /**
   * An ack, in its crank: an `ack` frame's, or that of a `msg` the screen
   * dropped (which has no `sent`); `startOvers`: the pair's start-overs
   * when it was screened. An `ack` frame's sender made it having consumed
   * this node's messages up to `ack`, and every message it made before that
   * is at or below `sent`: once those are all consumed here, the refs of the
   * promises notified up to `ack` retire, as a message's `seen` would retire
   * them (docs/protocol.md, "Promise retirement"). So a peer that stops
   * sending messages does not leave them behind.
   */
  ack(context: KernelContext, peerId: PeerId, frame: Pick<AckFrame, 'ack' | 'pair'> & { sent?: number }, startOvers: number): void {
    if (this.#ofOldPair(context, peerId, startOvers)) return;
    const peer = context.store.peers.ensure(peerId);
    if (this.#ofOtherPair(peer, frame.pair)) return;
    if (!this.acksValid(peerId) || !this.applyAck(context, peer, frame.ack)) return;
    if (frame.sent !== undefined && frame.sent <= peer.receivedSeq) retireThrough(context, peer.endpoint, frame.ack);
  }

  /** A message, in its crank: consumed if it is the next one, re-acked if old, dropped if ahead; `startOvers`: the pair's start-overs when it was screened. */
  message(context: KernelContext, peerId: PeerId, frame: MsgFrame, startOvers: number): void {
    if (this.#ofOldPair(context, peerId, startOvers)) return;
    const peers = context.store.peers;
    const peer = peers.ensure(peerId);
    const session = this.table.get(peerId);
    if (session?.pairMismatch !== null && session?.pairMismatch !== undefined) {
      // Screened before the hello that set it was applied: not read, and the screen starts again from the store.
      this.stats.framesOfMismatchedPair += 1;
      session.queuedSeq = peer.receivedSeq;
      return;
    }
    if (this.#ofOtherPair(peer, frame.pair)) {
      // The screen counted it as the next one: it starts again from the store.
      if (session !== undefined) session.queuedSeq = peer.receivedSeq;
      return;
    }
    // What the frame says of this node's messages (its ack, its body's `seen`) counts only once a hello of the peer's in this process has shown the pair's numbers consistent: before that, a number beyond what this node sent may be its own rollback, which that hello will show (rollback.ts).
    const judged = this.acksValid(peerId);
    if (judged) this.applyAck(context, peer, frame.ack);
    if (frame.seq === peer.receivedSeq + 1) {
      if (judged && frame.body.seen >= peer.nextSendSeq) throw new ProtocolError(`peer's message ${frame.seq} says it consumed ${frame.body.seen} messages, but only ${peer.nextSendSeq - 1} were sent`);
      const refusals = consumeMessage(context, peer.endpoint, frame.body, judged);
      if (refusals.length > 0) context.buffer.postCommit.push(() => this.hooks.refused(peerId, refusals));
      // The digest of what is consumed (with it a rolled-back sender's reuse of a number shows: rollback.ts) is the last one's of the run.
      peers.setReceived(peerId, frame.seq, null);
      this.#lastConsumed.set(peerId, frame.body);
      this.environment.crashPoints?.pass('after-receive-before-commit');
    } else if (frame.seq <= peer.receivedSeq) {
      this.stats.duplicatesDropped += 1;
      // Re-ack with the committed value, once this crank is committed.
      context.buffer.postCommit.push(() => this.transmitter.reack(peerId));
    } else {
      this.stats.gapsDropped += 1;
      if (session?.peerIncarnation === null) context.buffer.postCommit.push(() => this.transmitter.helloNowAndThen(session));
    }
  }

  /** A cumulative ack: rows up to it are delivered and leave the outbox. False if it is of the pair as it was before it started over, and says nothing of this one's. */
  applyAck(context: KernelContext, peer: PeerRecord, ack: number): boolean {
    if (ack >= peer.nextSendSeq) {
      // A frame of the pair as it was before it started over (on an older
      // connection, read after the new one's hello, maybe by an earlier
      // process of this node's): not the peer's error, once it ever started over.
      if (peer.startOvers > 0) {
        this.stats.framesOfMismatchedPair += 1;
        return false;
      }
      throw new ProtocolError(`peer acked ${ack}, but only ${peer.nextSendSeq - 1} were sent`);
    }
    if (ack <= peer.ackedSeq) return true;
    const digest = context.store.outbox.deleteUpTo(peer.peerId, ack);
    this.environment.crashPoints?.pass('outbox-delete-after-ack');
    context.store.peers.setAcked(peer.peerId, ack, digest);
    this.hooks.roomFor(peer.peerId);
    return true;
  }

  acksValid(peerId: PeerId): boolean {
    return this.table.get(peerId)?.peerAcksValid === true;
  }
}
