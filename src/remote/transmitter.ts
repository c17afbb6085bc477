import type { PeerId, Transport } from '../net/transport.js';
import type { KernelStore } from '../store/index.js';
import type { PeerRecord } from '../store/peers.js';
import { assert } from '../util/assert.js';
import type { Logger } from '../util/logger.js';
import { encodeFrame, encodeMsgFrame, maxHelloAddresses } from './frames.js';
import { pairTagOf } from './pairTag.js';
import { committedPairOf, type Session, type SessionEnvironment, type SessionOptions, type SessionStats, type SessionTable } from './session.js';

/**
 * The sending half of the sessions: it writes committed outbox rows (never
 * before the COMMIT that wrote them), acks of what committed cranks
 * consumed, the credit granted to the peer, and hellos; it resends from the
 * first unacked row on every (re)connect and on a backoff timer.
 */
export class Transmitter {
  /** Writes handed to the transport and not yet settled (a shutdown waits for them). */
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    private readonly table: SessionTable,
    private readonly store: KernelStore,
    private readonly transport: Transport,
    private readonly logger: Logger,
    private readonly options: SessionOptions,
    private readonly environment: SessionEnvironment,
    private readonly stats: SessionStats,
    /** The incarnation this node presents to a peer (the hello rule keeps them). */
    private readonly incarnationFor: (pair: Pick<PeerRecord, 'localIncarnation'> | undefined) => string,
  ) {}

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The hello to `peerId`: what this node knows of the pair, its credit, and where to dial it. */
  hello(peerId: PeerId): Uint8Array {
    const session = this.table.get(peerId);
    if (session !== undefined) session.helloOwed = false;
    const window = session === undefined ? 0 : this.grantedWindow(session);
    if (session !== undefined) session.windowSent = window;
    // What the last COMMIT says: the store may hold an open group's writes.
    const pair = session?.committedPair;
    return encodeFrame({
      type: 'hello',
      incarnation: this.incarnationFor(pair),
      yourIncarnation: pair?.incarnation ?? null,
      receivedSeq: session?.committedReceivedSeq ?? 0,
      receivedDigest: session?.committedReceivedDigest ?? null,
      sentSeq: session?.committedSendSeq ?? 0,
      ackedSeq: session?.ackedSeq ?? 0,
      window,
      addresses: this.transport.addresses().slice(0, maxHelloAddresses),
      startedOver: pair?.startedOver ?? null,
    });
  }

  /**
   * Settles once every write handed to the transport has settled, including
   * the writes those make room for: what committed rows and acks were
   * released is on the wire, as far as this node can tell. Callers bound the
   * wait (a peer may be unreachable).
   */
  async sendsSettled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  stop(): void {
    this.#stopped = true;
    for (const session of this.table.all()) this.table.clearTimers(session);
  }

  /**
   * After a COMMIT (once on disk), before the committed cranks' actions
   * run: the pair's incarnations as `committed` (the peers' records read at
   * that COMMIT) says, which the hellos those actions may send must tell.
   * (The numbers wait for {@link afterCommit}: a pair that started over
   * gets them from its action first.)
   */
  learnCommittedPairs(committed: readonly PeerRecord[]): void {
    if (this.#stopped) return;
    for (const peer of committed) {
      const session = this.table.get(peer.peerId);
      if (session !== undefined && peer.forgotten === null) session.committedPair = committedPairOf(peer);
    }
  }

  /**
   * After every COMMIT (once on disk): learn what is now durable from
   * `committed` (the peers' records read at that COMMIT: the store may hold
   * later COMMITs not on disk yet, or an open group), then send what may
   * now be sent.
   */
  afterCommit(committed: readonly PeerRecord[]): void {
    if (this.#stopped) return;
    for (const peer of committed) {
      if (peer.forgotten !== null) continue;
      const session = this.table.for(peer);
      session.committedSendSeq = peer.nextSendSeq - 1;
      session.committedReceivedSeq = peer.receivedSeq;
      session.committedReceivedDigest = peer.receivedDigest;
      session.committedPair = committedPairOf(peer);
      session.queuedSeq = Math.max(session.queuedSeq, peer.receivedSeq);
      if (peer.ackedSeq > session.ackedSeq) {
        // Progress: the resend clock starts over.
        session.ackedSeq = peer.ackedSeq;
        session.backoffMs = this.options.resendMs;
        this.environment.clock.clearTimeout(session.resendTimer);
        session.resendTimer = undefined;
      }
      session.sentUpTo = Math.max(session.sentUpTo, session.ackedSeq);
      // What the pair's sequences are, as far as this node can break them: acked <= sent <= committed.
      assert(
        session.ackedSeq <= session.sentUpTo && session.sentUpTo <= session.committedSendSeq,
        `peer ${peer.peerId}: acked ${session.ackedSeq}, sent ${session.sentUpTo}, committed ${session.committedSendSeq}`,
      );
      this.transmit(session);
    }
  }

  /** A (re)connect or a lost connection: whatever was in flight may be gone, so resend from the first unacked row. */
  resendFromAcked(peerId: PeerId): void {
    const session = this.table.get(peerId);
    if (session === undefined) return;
    if (session.sentUpTo > session.ackedSeq) this.stats.retransmits += session.sentUpTo - session.ackedSeq;
    session.sentUpTo = session.ackedSeq;
    session.ackSent = -1;
    session.windowSent = -1;
    this.transmit(session);
  }

  /** A stream to or from the peer opened: it is reachable now, whatever a write failed on before. */
  reachable(peerId: PeerId): void {
    const session = this.table.get(peerId);
    if (session === undefined) return;
    session.redialAt = Number.NEGATIVE_INFINITY;
    this.environment.clock.clearTimeout(session.redialTimer);
    session.redialTimer = undefined;
    this.resendFromAcked(peerId);
  }

  /** The ack again, with the committed value (a duplicate came: the peer may have missed it). */
  reack(peerId: PeerId): void {
    const session = this.table.get(peerId);
    if (session === undefined) return;
    session.ackSent = -1;
    this.transmit(session);
  }

  /**
   * A message past the next one, or one of a mismatched pair: frames were
   * lost, or the peer's numbers are not this store's (it missed the hello
   * that told it this node's new incarnation: a stream's first frame that
   * a fault took). The sender's resend covers the first case; a hello, at
   * most one per `resendMs`, the second: the peer compares it with what it
   * knows and starts over if it must.
   */
  helloNowAndThen(session: Session): void {
    const now = this.environment.clock.now();
    if (now - session.unaskedHelloAt < this.options.resendMs) return;
    session.unaskedHelloAt = now;
    session.helloOwed = true;
    this.transmit(session);
  }

  transmit(session: Session): void {
    if (this.#stopped) return;
    if (session.sending) {
      session.again = true;
      return;
    }
    const waitMs = session.redialAt - this.environment.clock.now();
    if (waitMs > 0) {
      session.redialTimer ??= this.environment.clock.setTimeout(() => {
        session.redialTimer = undefined;
        this.transmit(session);
      }, waitMs);
      return;
    }
    const from = session.sentUpTo + 1;
    const room = this.options.windowFrames - (session.sentUpTo - session.ackedSeq);
    // The peer's window; before it is known, the first unacked row alone:
    // it opens the conversation, and the peer's answer carries the window.
    const allowed = session.peerWindow ?? session.ackedSeq + 1;
    const to = Math.min(session.committedSendSeq, session.sentUpTo + room, allowed);
    // Only committed rows (seq <= committedSendSeq) are read: an open
    // transaction may hold newer ones that are not yet durable.
    const rows = to >= from ? this.store.outbox.read(session.peerId, from, to, to - from + 1) : [];
    const ack = session.committedReceivedSeq;
    const window = this.grantedWindow(session);
    // The pair the rows and the ack are of: as committed with them.
    const pair = pairTagOf(this.incarnationFor(session.committedPair), session.committedPair.incarnation);
    const frames = rows.map((row) => encodeMsgFrame(row.seq, ack, window, pair, row.frame));
    // `sent` as committed with `ack`: every message made before what it acks was consumed is at or below it (receiveRule.ts, ack).
    if (frames.length === 0 && (session.ackSent !== ack || session.windowSent !== window)) frames.push(encodeFrame({ type: 'ack', ack, window, pair, sent: session.committedSendSeq }));
    if (session.helloOwed) frames.unshift(this.hello(session.peerId));
    this.#armResend(session);
    if (frames.length === 0) return;
    const last = rows.at(-1)?.seq ?? session.sentUpTo;
    const sequences = session.sequences;
    session.sending = true;
    const write = this.transport.send(session.peerId, frames).then(
      () => {
        // A write of the pair's old sequences (it started over meanwhile) says nothing of the new ones.
        if (session.sequences !== sequences) return;
        session.sentUpTo = Math.max(session.sentUpTo, last);
        session.ackSent = ack;
        session.windowSent = Math.max(session.windowSent, window);
        this.stats.framesSent += frames.length;
        this.stats.msgsSent += rows.length;
      },
      (error: unknown) => {
        // Again after resendMs, or sooner if the peer connects.
        this.logger.debug({ peerId: session.peerId, err: error, redialInMs: this.options.resendMs }, 'send failed; will resend');
        session.sentUpTo = session.ackedSeq;
        session.redialAt = this.environment.clock.now() + this.options.resendMs;
      },
    ).finally(() => {
      this.#inFlight.delete(write);
      session.sending = false;
      if (session.again) {
        session.again = false;
        this.transmit(session);
      }
    });
    this.#inFlight.add(write);
  }

  /**
   * The window to tell the peer: its credit, topped up from its inbound
   * rate. If the rate has run dry, a timer tops it up once there is a
   * quarter window to grant, and tells the peer.
   */
  grantedWindow(session: Session): number {
    session.credit.topUp(session.queuedSeq);
    const delayMs = session.credit.refillDelayMs(session.queuedSeq);
    if (delayMs !== undefined && session.refillTimer === undefined && !this.#stopped) {
      session.refillTimer = this.environment.clock.setTimeout(() => {
        session.refillTimer = undefined;
        this.transmit(session);
      }, delayMs);
    }
    return session.credit.granted;
  }

  /** While rows stay unacked, resend from the first unacked row after a growing delay. */
  #armResend(session: Session): void {
    const unacked = session.committedSendSeq > session.ackedSeq || session.helloUntilNamed;
    if (!unacked) {
      this.environment.clock.clearTimeout(session.resendTimer);
      session.resendTimer = undefined;
      this.#armAwaitCheck(session);
      return;
    }
    if (session.resendTimer !== undefined) return;
    session.resendTimer = this.environment.clock.setTimeout(() => {
      session.resendTimer = undefined;
      session.backoffMs = Math.min(session.backoffMs * 2, this.options.maxResendMs);
      if (session.helloUntilNamed) session.helloOwed = true;
      this.resendFromAcked(session.peerId);
    }, session.backoffMs);
  }

  /**
   * With nothing unacked, a node may still await results from the peer;
   * if the peer's store was rolled back, they will never come, and only a
   * hello (which shows the peer the numbers) ends the wait. So every
   * `maxResendMs`, while results from the peer are awaited, a hello.
   */
  #armAwaitCheck(session: Session): void {
    if (session.awaitTimer !== undefined || this.#stopped) return;
    session.awaitTimer = this.environment.clock.setTimeout(() => {
      session.awaitTimer = undefined;
      const peer = this.store.peers.get(session.peerId);
      if (peer === undefined || peer.forgotten !== null || this.store.promises.decidedBy(peer.endpoint).length === 0) return;
      session.helloOwed = true;
      this.transmit(session);
    }, this.options.maxResendMs);
  }
}
