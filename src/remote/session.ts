import type { CrashPoints } from '../fault/crashPoints.js';
import type { RouterSeam } from '../fault/sabotage.js';
import type { PeerId } from '../net/transport.js';
import type { PeerRecord } from '../store/peers.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Entropy } from '../util/random.js';
import { InboundCredit } from './inboundCredit.js';
import { TokenBucket } from './tokenBucket.js';

/**
 * A session: what this node knows, in memory, of its pair with one peer
 * (the store holds the truth), and the table of them that the transmitter,
 * the hello rule and the receive rule share.
 */

export interface SessionOptions {
  /** Most `msg` frames sent and not yet acked, per peer. */
  windowFrames: number;
  /** Most rows waiting in a peer's outbox for its ack; a send beyond is refused (its result rejected). */
  maxUnackedPerPeer: number;
  /**
   * A peer's inbound rate of messages, per second on average and in one
   * burst: the credit this node grants it (it is told to wait, not dropped:
   * `inboundCredit.ts`). Frames that cannot say anything new (a repeated
   * hello, an ack of nothing new) are dropped before they cost a crank, so
   * they need no rate of their own.
   */
  inboundFramesPerSecond: number;
  inboundFrameBurst: number;
  /** First resend delay while rows stay unacked; doubles up to `maxResendMs`. */
  resendMs: number;
  maxResendMs: number;
  /**
   * Most rows kept for peers that never shared anything with this node
   * (every peer id that says hello gets one); beyond, the oldest go.
   */
  maxIdlePeers: number;
}

// A connection is ordered and reliable until it breaks, and a break makes
// both sides resend at once; the timer only covers silent losses, so it is slow.
// The inbound rate is several times what one peer's messages can cost here
// (docs/benchmarks.md): it stops floods, not honest traffic.
export const defaultSessionOptions: SessionOptions = {
  windowFrames: 512,
  maxUnackedPerPeer: 10_000,
  inboundFramesPerSecond: 5_000,
  inboundFrameBurst: 10_000,
  resendMs: 1_000,
  maxResendMs: 30_000,
  maxIdlePeers: 1_024,
};

/** What the sessions run on: real time in a node, virtual time and armed faults in a simulation. */
export interface SessionEnvironment {
  clock: Clock;
  crashPoints?: CrashPoints;
  /** How often one peer may make the node log the same kind of warning (`PeerWarnings`; its default unless set). */
  peerWarningIntervalMs?: number;
  /** Test-only: a seam around the router (src/fault/sabotage.ts); unset in a node. */
  routerSeam?: RouterSeam;
  /** Where a pair that starts over after a rollback gets its new incarnation. */
  entropy: Entropy;
}

/** Counters for metrics and tests. */
export interface SessionStats {
  framesSent: number;
  msgsSent: number;
  retransmits: number;
  duplicatesDropped: number;
  gapsDropped: number;
  badFrames: number;
  /** Messages from peers refused alone (bad arguments, names it was never given): consumed, their results rejected. */
  messagesRefused: number;
  /** Sends refused because the peer's outbox was full (their results rejected). */
  sendsRefused: number;
  /** Send-only messages put in an outbox already at its limit (they have no result to reject; see router.ts). */
  sendOnlyHeld: number;
  /** Send-only messages to forgotten peers, dropped. */
  sendOnlyDropped: number;
  /** Messages from peers dropped for coming past the window this node granted (a sender breaking the rule, or one that has not heard yet). */
  framesBeyondWindow: number;
  framesReceived: number;
  /** Messages and acks not read because the pair's state did not match (a rolled-back store, an old incarnation), until a hello that matches. */
  framesOfMismatchedPair: number;
}

/** What this node knows, in memory, of the pair's state; the store holds the truth. */
export interface Session {
  peerId: PeerId;
  /** Highest seq whose outbox row is committed (and so may be sent). */
  committedSendSeq: number;
  /** Highest seq consumed in a committed crank (the only value an ack may name). */
  committedReceivedSeq: number;
  /** The digest of that message's body (told in hellos, with the seq). */
  committedReceivedDigest: string | null;
  /**
   * What the committed store says of the pair's incarnations and of a start
   * over, as hellos tell it: a hello may be written between the cranks of
   * an open group, whose writes must not leave the node.
   */
  committedPair: CommittedPair;
  /** Highest seq handed to the kernel for consumption (queued or consumed): the cheap duplicate filter. */
  queuedSeq: number;
  ackedSeq: number;
  /** Highest seq written on the current connection. */
  sentUpTo: number;
  /**
   * How many times the pair's sequences started over (amnesia, rollback) in
   * this process, counted once the start-over is committed, as the rest of
   * the session's numbers are: a write's outcome counts only for the ones it
   * was made of. (Frames received are judged by the peer row's
   * `startOvers` instead, which the crank that starts the pair over moves.)
   */
  sequences: number;
  /** Highest ack written on the current connection; -1 forces a re-ack. */
  ackSent: number;
  sending: boolean;
  again: boolean;
  /** A hello must go out with the next frames (the peer must learn what we know of incarnations). */
  helloOwed: boolean;
  /** The peer's last hello named our current incarnation: its acks are about this store. */
  peerAcksValid: boolean;
  /** A hello from the peer arrived in this process (its crank may not have run yet). */
  helloHeard: boolean;
  /**
   * Why the peer's messages and acks are not read now, though its
   * connection stays: its last hello showed its store behind ours (a
   * rollback it has yet to find), or named an incarnation of ours that is
   * gone. Its next hello that shows neither ends it.
   */
  pairMismatch: 'peer-behind' | 'names-old-incarnation' | null;
  /** The incarnation the peer's last hello announced (null before one). */
  peerIncarnation: string | null;
  /** The dial addresses the peer's last hello announced, as one key (`\n`-joined). */
  peerAddresses: string;
  resendTimer: TimerHandle | undefined;
  /**
   * After a failed write, the peer is not dialled again before this time
   * (clock ms): a busy node would otherwise redial an unreachable peer on
   * every COMMIT, and use up the per-address connection rate that peer
   * allows every node on the same host.
   */
  redialAt: number;
  /** Set while a transmit waits for `redialAt`. */
  redialTimer: TimerHandle | undefined;
  /** While nothing is unacked: when to look whether results from the peer are still awaited (`Transmitter`'s await check). */
  awaitTimer: TimerHandle | undefined;
  backoffMs: number;
  /**
   * This node presents a new incarnation to the peer (it started the pair
   * over, or was restored) and the peer has not named it yet: the hello
   * that tells it is resent on the resend timer, even with nothing else to
   * send, since the peer may await results that only that hello settles.
   */
  helloUntilNamed: boolean;
  /** When a gap or a mismatched pair last made this node send a hello (clock ms): at most one per `resendMs`. */
  unaskedHelloAt: number;
  /** How far the peer may send to us (receiver side of flow control). */
  credit: InboundCredit;
  /** The window last written to the peer; -1 forces an update. */
  windowSent: number;
  /** Set while the credit waits for the peer's inbound rate to refill. */
  refillTimer: TimerHandle | undefined;
  /**
   * The highest seq the peer said it will take from us (sender side of flow
   * control); undefined until a frame from it says, in this process.
   */
  peerWindow: number | undefined;
}

/** The pair's incarnations and start over, as the last COMMIT left them. */
export type CommittedPair = Pick<PeerRecord, 'incarnation' | 'localIncarnation' | 'startedOver'>;

/** The sequence state a session starts from: the store's, or all zero for a peer the store does not know yet. */
export type SequenceState = Pick<PeerRecord, 'peerId' | 'nextSendSeq' | 'ackedSeq' | 'receivedSeq'> &
  Partial<Pick<PeerRecord, 'receivedDigest' | 'startedOver' | 'incarnation' | 'localIncarnation'>>;

/** The committed pair of a record (or, for a peer the store does not know, of none). */
export const committedPairOf = (peer: Partial<CommittedPair>): CommittedPair => ({
  incarnation: peer.incarnation ?? null,
  localIncarnation: peer.localIncarnation ?? null,
  startedOver: peer.startedOver ?? null,
});


export function newSessionStats(): SessionStats {
  return {
    framesSent: 0,
    msgsSent: 0,
    retransmits: 0,
    duplicatesDropped: 0,
    gapsDropped: 0,
    badFrames: 0,
    messagesRefused: 0,
    sendsRefused: 0,
    sendOnlyHeld: 0,
    sendOnlyDropped: 0,
    framesBeyondWindow: 0,
    framesReceived: 0,
    framesOfMismatchedPair: 0,
  };
}

/** The sessions, by peer: made from the store's sequence state when a peer is first met in this process. */
export class SessionTable {
  readonly #sessions = new Map<PeerId, Session>();

  constructor(
    private readonly options: SessionOptions,
    private readonly clock: Clock,
  ) {}

  get(peerId: PeerId): Session | undefined {
    return this.#sessions.get(peerId);
  }

  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** The peer's session, made now from `peer` if this process has none. */
  for(peer: SequenceState): Session {
    let session = this.#sessions.get(peer.peerId);
    if (session === undefined) {
      const clock = this.clock;
      const grants = new TokenBucket(this.options.inboundFramesPerSecond, this.options.inboundFrameBurst, () => clock.now());
      session = {
        peerId: peer.peerId,
        committedSendSeq: peer.nextSendSeq - 1,
        committedReceivedSeq: peer.receivedSeq,
        committedReceivedDigest: peer.receivedDigest ?? null,
        committedPair: committedPairOf(peer),
        queuedSeq: peer.receivedSeq,
        ackedSeq: peer.ackedSeq,
        sentUpTo: peer.ackedSeq,
        sequences: 0,
        helloUntilNamed: (peer.startedOver ?? null) !== null,
        ackSent: -1,
        sending: false,
        again: false,
        helloOwed: false,
        peerAcksValid: false,
        helloHeard: false,
        pairMismatch: null,
        peerIncarnation: null,
        peerAddresses: '',
        resendTimer: undefined,
        redialAt: Number.NEGATIVE_INFINITY,
        redialTimer: undefined,
        awaitTimer: undefined,
        backoffMs: this.options.resendMs,
        unaskedHelloAt: Number.NEGATIVE_INFINITY,
        credit: new InboundCredit(grants, this.options.windowFrames, peer.receivedSeq),
        windowSent: -1,
        refillTimer: undefined,
        peerWindow: undefined,
      };
      this.#sessions.set(peer.peerId, session);
    }
    return session;
  }

  /** The pair's sequences start over from zero (its store state already has): the session's memory of them follows. */
  startSequencesOver(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    Object.assign(session, { committedSendSeq: 0, committedReceivedSeq: 0, committedReceivedDigest: null, queuedSeq: 0, ackedSeq: 0, sentUpTo: 0, ackSent: -1, windowSent: -1 });
    session.sequences += 1;
    session.credit.reset(0);
  }

  /** Stops a session's timers (the node stops, or the session ends). */
  clearTimers(session: Session): void {
    this.clock.clearTimeout(session.resendTimer);
    this.clock.clearTimeout(session.redialTimer);
    this.clock.clearTimeout(session.refillTimer);
    this.clock.clearTimeout(session.awaitTimer);
  }

  /** This node keeps nothing in memory of the peer any more: its next frame starts afresh (a hello) or is refused. */
  end(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    this.clearTimers(session);
    this.#sessions.delete(peerId);
  }
}
