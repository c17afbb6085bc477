import { assert } from '../util/assert.js';
import type { KernelContext, RemoteRouter } from '../kernel/context.js';
import type { Kernel } from '../kernel/kernel.js';
import type { KernelStore } from '../store/index.js';
import { bodyDigest, type PeerRecord, type StartedOver } from '../store/peers.js';
import type { RemoteId } from '../store/types.js';
import type { PeerId, Transport } from '../net/transport.js';
import type { CrashPoints } from '../fault/crashPoints.js';
import type { Sabotage } from '../fault/sabotage.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { systemEntropy, type Entropy } from '../util/random.js';
import type { Logger } from '../util/logger.js';
import { BadFrameError, decodeFrame, encodeFrame, encodeMsgFrame, maxHelloAddresses, type Frame } from './frames.js';
import { consumeMessage } from './inbound.js';
import { dropPeerState, type DroppedPeerState } from './peerState.js';
import { describeRollback, rollbackOf, type Rollback } from './rollback.js';
import { ProtocolError } from './remoteTranslator.js';
import { makeRemoteRouter } from './router.js';
import { InboundCredit } from './inboundCredit.js';
import { TokenBucket } from './tokenBucket.js';
import { PeerWarnings } from '../util/peerWarnings.js';

/** A peer this node does not have (or no longer has) to act on. */
export class UnknownPeerError extends Error {
  override name = 'UnknownPeerError';
}

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
  /** Test-only: a deliberate bug the checker must catch (src/fault/sabotage.ts). */
  sabotage?: Sabotage;
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
  /** Messages from peers dropped for coming past the window this node granted (a sender breaking the rule, or one that has not heard yet). */
  framesBeyondWindow: number;
  framesReceived: number;
  /** Messages and acks not read because the pair's state did not match (a rolled-back store, an old incarnation), until a hello that matches. */
  framesOfMismatchedPair: number;
}

/** What this node knows, in memory, of the pair's state; the store holds the truth. */
interface Session {
  peerId: PeerId;
  /** Highest seq whose outbox row is committed (and so may be sent). */
  committedSendSeq: number;
  /** Highest seq consumed in a committed crank (the only value an ack may name). */
  committedReceivedSeq: number;
  /** The digest of that message's body (told in hellos, with the seq). */
  committedReceivedDigest: string | null;
  /** Highest seq handed to the kernel for consumption (queued or consumed): the cheap duplicate filter. */
  queuedSeq: number;
  ackedSeq: number;
  /** Highest seq written on the current connection. */
  sentUpTo: number;
  /** How many times the pair's sequences started over (amnesia, rollback) in this process: a write's outcome counts only for the ones it was made of. */
  sequences: number;
  /** Highest ack written on the current connection; -1 forces a re-ack. */
  ackSent: number;
  sending: boolean;
  again: boolean;
  /** A hello must go out with the next frames (the peer must learn what we know of incarnations). */
  helloOwed: boolean;
  /** The peer's last hello named our current incarnation: its acks are about this store. */
  peerAcksValid: boolean;
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
  /** While nothing is unacked: when to look whether results from the peer are still awaited ({@link PeerSessions.#armAwaitCheck}). */
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

/** The sequence state a session starts from: the store's, or all zero for a peer the store does not know yet. */
type SequenceState = Pick<PeerRecord, 'peerId' | 'nextSendSeq' | 'ackedSeq' | 'receivedSeq'> & Partial<Pick<PeerRecord, 'receivedDigest' | 'startedOver'>>;

/**
 * The sessions with every peer: they transmit committed outbox rows (never
 * before the COMMIT that wrote them), resend from the first unacked row on
 * every (re)connect and on a backoff timer, and turn inbound frames into
 * cranks that apply the receive rule. Acks leave only after the crank that
 * consumed what they acknowledge is committed.
 */
export class PeerSessions {
  readonly stats: SessionStats = {
    framesSent: 0,
    msgsSent: 0,
    retransmits: 0,
    duplicatesDropped: 0,
    gapsDropped: 0,
    badFrames: 0,
    messagesRefused: 0,
    sendsRefused: 0,
    framesBeyondWindow: 0,
    framesReceived: 0,
    framesOfMismatchedPair: 0,
  };

  readonly #sessions = new Map<PeerId, Session>();
  /** Peers the transport has a connection with, as its handlers last said (for status and metrics). */
  readonly #connected = new Set<PeerId>();
  /** Peers whose sends are being refused (a full outbox), so that a run of refusals is logged once. */
  readonly #refusing = new Set<PeerId>();
  /** Messages refused per peer since start (for metrics). */
  readonly #refusals = new Map<PeerId, number>();
  /** Peers whose connection is being closed, why, and how many frames came meanwhile (one log line per close). */
  readonly #closing = new Map<PeerId, { reason: string; frames: number }>();
  readonly #warnings: PeerWarnings;
  /** Writes handed to the transport and not yet settled (a shutdown waits for them). */
  readonly #inFlight = new Set<Promise<void>>();
  /** The store's incarnation: what this node presents to every peer but those whose pair started over (`localIncarnation`). */
  #incarnation: string;
  /** Peers the operator forgot (their rows stay in the store, as tombstones): their frames are refused. */
  readonly #forgotten = new Set<PeerId>();
  #stopped = false;

  constructor(
    private readonly kernel: Kernel,
    private readonly store: KernelStore,
    private readonly transport: Transport,
    private readonly logger: Logger,
    private readonly options: SessionOptions = defaultSessionOptions,
    private readonly environment: SessionEnvironment = { clock: systemClock, entropy: systemEntropy },
  ) {
    this.#incarnation = store.meta.incarnation();
    for (const peer of store.peers.all()) if (peer.forgotten !== null) this.#forgotten.add(peer.peerId);
    this.#warnings = new PeerWarnings(logger, environment.clock, environment.peerWarningIntervalMs);
    const router = makeRemoteRouter(options.maxUnackedPerPeer, (peerId, unacked) => this.#sendRefused(peerId, unacked));
    kernel.setRemoteRouter(environment.sabotage === 'transmit-before-commit' ? this.#transmittingRouter(router) : router);
    kernel.onCommit(() => this.#afterCommit());
    transport.setHandlers({
      frame: (peerId, bytes) => this.#onFrame(peerId, bytes),
      helloFrame: (peerId) => this.#hello(peerId),
      connected: (peerId) => {
        this.#connected.add(peerId);
        this.#resendFromAcked(peerId);
      },
      disconnected: (peerId) => {
        this.#connected.delete(peerId);
        this.#resendFromAcked(peerId);
      },
    });
  }

  /**
   * Starts the sessions: rows committed before a restart go out now. A
   * store restored from a backup (`ken-node restore`) first becomes a new
   * incarnation, in a crank that starts every pair over: peers remember
   * more than the copy does, and will treat it as a node that lost its state.
   */
  async start(): Promise<void> {
    const restoredFrom = this.store.meta.restoredFrom();
    if (restoredFrom !== undefined) await this.#startOverAfterRestore(restoredFrom);
    this.#afterCommit();
  }

  #startOverAfterRestore(restoredFrom: string): Promise<void> {
    return this.kernel.runInCrank<void>((context, done) => {
      const reason = `this node was restored from a backup (${restoredFrom}) and started as a new incarnation`;
      const peers = context.store.peers.all().filter((peer) => peer.forgotten === null);
      const dropped = peers.map((peer) => ({ peerId: peer.peerId, ...dropPeerState(context, peer, reason) }));
      for (const peer of peers) context.store.peers.startOver(peer.peerId, null, null);
      const incarnation = context.store.meta.becomeNewIncarnation(this.environment.entropy);
      context.buffer.postCommit.push(() => {
        this.#incarnation = incarnation;
        for (const peer of peers) {
          // Every peer must hear of the new incarnation: it may await what the old one decided.
          Object.assign(this.#sessionFor(context.store.peers.get(peer.peerId) ?? peer), { helloUntilNamed: true, helloOwed: true });
          // After the session exists: its count of start-overs is what tells an old-pair ack from a peer's error.
          this.#startSequencesOver(peer.peerId);
        }
        this.logger.warn({ peers: dropped }, `${reason}: every pair starts over; its peers reject what it decided and drop what they owed it`);
        done();
      });
    });
  }

  /** A send refused for a full outbox: counted; logged when a run of refusals starts, not for each one. */
  #sendRefused(peerId: PeerId, unacked: number): void {
    this.stats.sendsRefused += 1;
    if (this.#refusing.has(peerId)) return;
    this.#refusing.add(peerId);
    this.logger.warn({ peerId, unacked, limit: this.options.maxUnackedPerPeer }, 'outbox to peer is full: refusing sends to it until it acks');
  }

  /** Messages from `peerId` refused since this node started. */
  refusalsOf(peerId: PeerId): number {
    return this.#refusals.get(peerId) ?? 0;
  }

  /** Peers that had a message refused since start, with how many (for metrics). */
  refusalCounts(): ReadonlyMap<PeerId, number> {
    return this.#refusals;
  }

  #hello(peerId: PeerId): Uint8Array {
    const session = this.#sessions.get(peerId);
    if (session !== undefined) session.helloOwed = false;
    const window = session === undefined ? 0 : this.#grantedWindow(session);
    if (session !== undefined) session.windowSent = window;
    const peer = this.store.peers.get(peerId);
    return encodeFrame({
      type: 'hello',
      incarnation: this.#incarnationFor(peer),
      yourIncarnation: peer?.incarnation ?? null,
      receivedSeq: session?.committedReceivedSeq ?? 0,
      receivedDigest: session?.committedReceivedDigest ?? null,
      sentSeq: session?.committedSendSeq ?? 0,
      ackedSeq: session?.ackedSeq ?? 0,
      window,
      addresses: this.transport.addresses().slice(0, maxHelloAddresses),
      startedOver: peer?.startedOver ?? null,
    });
  }

  /** The incarnation this node presents to `peer`. */
  #incarnationFor(peer: PeerRecord | undefined): string {
    return peer?.localIncarnation ?? this.#incarnation;
  }

  /** Frames this node has not had acked, per peer (outbox depth). */
  outboxDepth(peerId: PeerId): number {
    return this.store.peers.outboxDepth(peerId);
  }

  /** True while the transport reports a connection with `peerId`. */
  isConnected(peerId: PeerId): boolean {
    return this.#connected.has(peerId);
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
    for (const session of this.#sessions.values()) {
      this.environment.clock.clearTimeout(session.resendTimer);
      this.environment.clock.clearTimeout(session.refillTimer);
      this.environment.clock.clearTimeout(session.awaitTimer);
    }
  }

  /** After every COMMIT: learn what is now durable, then send what may now be sent. */
  #afterCommit(): void {
    for (const peer of this.store.peers.all()) {
      if (peer.forgotten !== null) continue;
      const session = this.#sessionFor(peer);
      session.committedSendSeq = peer.nextSendSeq - 1;
      session.committedReceivedSeq = peer.receivedSeq;
      session.committedReceivedDigest = peer.receivedDigest;
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
      this.#transmit(session);
    }
  }

  #sessionFor(peer: SequenceState): Session {
    let session = this.#sessions.get(peer.peerId);
    if (session === undefined) {
      const clock = this.environment.clock;
      const grants = new TokenBucket(this.options.inboundFramesPerSecond, this.options.inboundFrameBurst, () => clock.now());
      session = {
        peerId: peer.peerId,
        committedSendSeq: peer.nextSendSeq - 1,
        committedReceivedSeq: peer.receivedSeq,
        committedReceivedDigest: peer.receivedDigest ?? null,
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
        pairMismatch: null,
        peerIncarnation: null,
        peerAddresses: '',
        resendTimer: undefined,
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

  /** A (re)connect or a lost connection: whatever was in flight may be gone, so resend from the first unacked row. */
  #resendFromAcked(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    if (session.sentUpTo > session.ackedSeq) this.stats.retransmits += session.sentUpTo - session.ackedSeq;
    session.sentUpTo = session.ackedSeq;
    session.ackSent = -1;
    session.windowSent = -1;
    this.#transmit(session);
  }

  /** Sabotage only: a router that transmits each row as soon as it is written, before its COMMIT. */
  #transmittingRouter(remoteRouter: RemoteRouter): RemoteRouter {
    const soon = (endpoint: RemoteId) =>
      queueMicrotask(() => {
        if (this.#stopped) return;
        const peer = this.store.peers.byEndpoint(endpoint);
        if (peer === undefined) return;
        const session = this.#sessionFor(peer);
        session.committedSendSeq = peer.nextSendSeq - 1; // read now: uncommitted
        this.#transmit(session);
      });
    return {
      send: (context, endpoint, target, message) => {
        remoteRouter.send(context, endpoint, target, message);
        soon(endpoint);
      },
      notify: (context, endpoint, kpid) => {
        remoteRouter.notify(context, endpoint, kpid);
        soon(endpoint);
      },
    };
  }

  #transmit(session: Session): void {
    if (this.#stopped) return;
    if (session.sending) {
      session.again = true;
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
    const rows = to >= from ? this.store.peers.readOutbox(session.peerId, from, to, to - from + 1) : [];
    const ack = this.environment.sabotage === 'ack-before-commit' ? session.queuedSeq : session.committedReceivedSeq;
    const window = this.#grantedWindow(session);
    const frames = rows.map((row) => encodeMsgFrame(row.seq, ack, window, row.frame));
    if (frames.length === 0 && (session.ackSent !== ack || session.windowSent !== window)) frames.push(encodeFrame({ type: 'ack', ack, window }));
    if (session.helloOwed) frames.unshift(this.#hello(session.peerId));
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
        this.logger.debug({ peerId: session.peerId, err: error }, 'send failed; will resend');
        session.sentUpTo = session.ackedSeq;
      },
    ).finally(() => {
      this.#inFlight.delete(write);
      session.sending = false;
      if (session.again) {
        session.again = false;
        this.#transmit(session);
      }
    });
    this.#inFlight.add(write);
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
      this.#resendFromAcked(session.peerId);
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
      this.#transmit(session);
    }, this.options.maxResendMs);
  }

  /**
   * The window to tell the peer: its credit, topped up from its inbound
   * rate. If the rate has run dry, a timer tops it up once there is a
   * quarter window to grant, and tells the peer.
   */
  #grantedWindow(session: Session): number {
    session.credit.topUp(session.queuedSeq);
    const delayMs = session.credit.refillDelayMs(session.queuedSeq);
    if (delayMs !== undefined && session.refillTimer === undefined && !this.#stopped) {
      session.refillTimer = this.environment.clock.setTimeout(() => {
        session.refillTimer = undefined;
        this.#transmit(session);
      }, delayMs);
    }
    return session.credit.granted;
  }

  #onFrame(peerId: PeerId, bytes: Uint8Array): void {
    this.stats.framesReceived += 1;
    if (this.#forgotten.has(peerId)) {
      this.#closeForgotten(peerId);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      if (!(error instanceof BadFrameError)) throw error;
      this.#refuse(peerId, error.message);
      return;
    }
    // An honest peer's first frame on every stream is a hello; a session
    // starts there, from the store's state or, for a new peer, from zero.
    let session = this.#sessions.get(peerId);
    if (session === undefined && frame.type === 'hello') {
      session = this.#sessionFor(this.store.peers.get(peerId) ?? { peerId, nextSendSeq: 1, ackedSeq: 0, receivedSeq: 0 });
    }
    if (session === undefined) {
      this.#refuse(peerId, `a ${frame.type} frame before any hello`);
      return;
    }
    if (frame.window !== session.peerWindow) {
      const grew = frame.window > (session.peerWindow ?? session.ackedSeq + 1);
      session.peerWindow = frame.window;
      if (grew) this.#transmit(session);
    }
    if (frame.type === 'hello') {
      const refusal = this.#dialAddressRefusal(peerId, frame.addresses);
      if (refusal !== undefined) {
        this.#refuse(peerId, refusal);
        return;
      }
      if (!this.#helloIsNews(session, frame)) return;
    }
    if (frame.type !== 'hello' && session.pairMismatch !== null) {
      this.stats.framesOfMismatchedPair += 1;
      // The hello that would end it may have been lost: say it again, now and then.
      this.#helloNowAndThen(session);
      return;
    }
    if (frame.type === 'ack' && !(session.peerAcksValid && frame.ack > session.ackedSeq)) return;
    if (frame.type === 'msg' && this.#screenMessage(session, frame)) return;
    if (this.environment.sabotage === 'ack-before-commit' && frame.type === 'msg') queueMicrotask(() => this.#reack(peerId));
    this.#queueReceive(peerId, (context) => this.#receive(context, peerId, frame));
  }

  /**
   * Queues a crank of the receive rule. Only a peer's protocol error closes
   * its connection; anything else that fails in the crank is not the peer's
   * doing (a broken invariant, a storage error), and goes on to stop the
   * kernel as what it is.
   */
  #queueReceive(peerId: PeerId, apply: (context: KernelContext) => void): void {
    this.kernel.queueExternal({
      apply,
      failed: (error) => {
        if (!(error instanceof ProtocolError)) throw error;
        const session = this.#sessions.get(peerId);
        // Frames queued after the refused one will be judged against the store.
        if (session !== undefined) session.queuedSeq = session.committedReceivedSeq;
        this.#refuse(peerId, error.message);
      },
    });
    this.kernel.run().catch((error: unknown) => this.logger.error({ err: error }, 'kernel stopped'));
  }

  /**
   * False for a hello that says nothing the last one did not (the same
   * incarnations, no ack beyond what is known): it costs no crank. A new
   * connection's resend does not wait for it: the transport's `connected`
   * starts it, so a peer that repeats hellos cannot make this node resend.
   */
  #helloIsNews(session: Session, frame: Extract<Frame, { type: 'hello' }>): boolean {
    return (
      session.peerIncarnation !== frame.incarnation ||
      session.peerAddresses !== frame.addresses.join('\n') ||
      // Numbers that show a rollback, on either side (rollback.ts judges them in the crank).
      frame.sentSeq < session.committedReceivedSeq ||
      frame.receivedSeq < session.ackedSeq ||
      frame.receivedSeq > session.committedSendSeq ||
      frame.ackedSeq > session.committedReceivedSeq ||
      session.peerAcksValid !== (frame.yourIncarnation === this.#incarnationFor(this.store.peers.get(session.peerId))) ||
      frame.receivedSeq > session.ackedSeq
    );
  }

  /**
   * Why the dial addresses of a peer's hello are refused: one this
   * transport cannot parse, or one that names another peer (dialling it
   * would reach that peer, not this one). Undefined if they are fine.
   */
  #dialAddressRefusal(peerId: PeerId, addresses: readonly string[]): string | undefined {
    const foreign = addresses.find((address) => address.includes('/p2p/') && !address.endsWith(`/p2p/${peerId}`));
    if (foreign !== undefined) return `hello names the dial address ${JSON.stringify(foreign)}, which is another peer's`;
    const refusal = this.transport.checkPeer(peerId, addresses);
    return refusal === undefined ? undefined : `hello names a dial address this node cannot use: ${refusal}`;
  }

  /**
   * Drops a duplicate, out-of-order or out-of-window `msg` before it costs a
   * crank (resends after a reconnect bring many). Returns true if the frame
   * was handled here. The crank still checks the sequence against the
   * store: this is a filter, not the rule.
   */
  #screenMessage(session: Session, frame: Extract<Frame, { type: 'msg' }>): boolean {
    if (frame.seq === session.queuedSeq + 1) {
      if (!session.credit.admits(frame.seq)) {
        this.stats.framesBeyondWindow += 1;
        return true;
      }
      session.queuedSeq = frame.seq;
      return false;
    }
    if (this.environment.sabotage === 'skip-dedup' && frame.seq <= session.queuedSeq) return false;
    if (frame.seq <= session.queuedSeq) {
      this.stats.duplicatesDropped += 1;
      session.ackSent = -1;
      this.#transmit(session);
    } else {
      this.stats.gapsDropped += 1;
      // Frames lost on the way are the sender's to resend; a hello only if this node never heard one from it.
      if (session.peerIncarnation === null) this.#helloNowAndThen(session);
    }
    // Its ack may still be news.
    if (session.peerAcksValid && frame.ack > session.ackedSeq) {
      this.#queueReceive(session.peerId, (context) => this.#applyAck(context, context.store.peers.ensure(session.peerId), frame.ack));
    }
    return true;
  }

  /**
   * A message past the next one, or one of a mismatched pair: frames were
   * lost, or the peer's numbers are not this store's (it missed the hello
   * that told it this node's new incarnation: a stream's first frame that
   * a fault took). The sender's resend covers the first case; a hello, at
   * most one per `resendMs`, the second: the peer compares it with what it
   * knows and starts over if it must.
   */
  #helloNowAndThen(session: Session): void {
    const now = this.environment.clock.now();
    if (now - session.unaskedHelloAt < this.options.resendMs) return;
    session.unaskedHelloAt = now;
    session.helloOwed = true;
    this.#transmit(session);
  }

  /**
   * A bad frame: nothing it says is applied, and the connection it came on
   * is closed. Frames still in flight on that connection are counted, not
   * logged one by one: one line per closed session (rate-limited per peer).
   */
  #refuse(peerId: PeerId, reason: string): void {
    this.stats.badFrames += 1;
    this.#closeConnection(peerId, reason, (entry) =>
      this.#warnings.warn(peerId, 'bad-frame', { reason: entry.reason, badFrames: entry.frames }, 'bad frame from peer: closed its connection'),
    );
  }

  /** A forgotten peer came back: nothing it says is read, and its connection is closed. */
  #closeForgotten(peerId: PeerId): void {
    this.#closeConnection(peerId, 'this node\'s operator forgot the peer', () =>
      this.#warnings.warn(peerId, 'forgotten', {}, 'a forgotten peer connected: closed its connection'),
    );
  }

  /** Closes the peer's connection once, however many frames come meanwhile (counted); `closed` runs when it is done. */
  #closeConnection(peerId: PeerId, reason: string, closed: (entry: { reason: string; frames: number }) => void): void {
    const closing = this.#closing.get(peerId);
    if (closing !== undefined) {
      closing.frames += 1;
      return;
    }
    const entry = { reason, frames: 1 };
    this.#closing.set(peerId, entry);
    void this.transport
      .closePeer(peerId, reason)
      .catch((error: unknown) => this.logger.debug({ peerId, err: error }, 'closing a peer failed'))
      .finally(() => {
        this.#closing.delete(peerId);
        closed(entry);
      });
  }

  /**
   * The operator gives up on a peer for good (`ken-node peers --forget`):
   * in a crank, the promises it decided are rejected with the reason (the
   * results of every message sent to it and not answered among them), the
   * objects it exported marked lost, its outbox dropped, and its row kept
   * as a tombstone, so that nothing is exchanged with it again. Logs what
   * was dropped; settles once that is committed.
   */
  forget(peerId: PeerId): Promise<DroppedPeerState & { peerId: PeerId }> {
    const peer = this.store.peers.get(peerId);
    if (peer === undefined) return Promise.reject(new UnknownPeerError(`this node has no peer ${peerId}`));
    if (peer.forgotten !== null) return Promise.reject(new UnknownPeerError(`peer ${peerId} is forgotten already: ${peer.forgotten}`));
    return this.kernel.runInCrank((context, done: (dropped: DroppedPeerState & { peerId: PeerId }) => void) => {
      const current = context.store.peers.get(peerId);
      if (current === undefined || current.forgotten !== null) throw new UnknownPeerError(`peer ${peerId} is gone or forgotten already`);
      const reason = `peer ${peerId} was forgotten by this node's operator`;
      const dropped = dropPeerState(context, current, reason);
      context.store.peers.markForgotten(peerId, reason);
      context.buffer.postCommit.push(() => {
        this.#forgotten.add(peerId);
        this.#endSession(peerId);
        this.logger.warn({ peerId, ...dropped }, `${reason}: its promises were rejected and its outbox dropped`);
        this.#closeConnection(peerId, reason, () => {});
        done({ peerId, ...dropped });
      });
    });
  }

  /** This node keeps nothing in memory of the peer any more: its next frame starts afresh (a hello) or is refused. */
  #endSession(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    this.environment.clock.clearTimeout(session.resendTimer);
    this.environment.clock.clearTimeout(session.refillTimer);
    this.environment.clock.clearTimeout(session.awaitTimer);
    this.#sessions.delete(peerId);
  }

  /**
   * A message refused alone (all of it, or some of a notify's resolutions),
   * counted and logged (rate-limited per peer) once the crank that consumed
   * it is committed.
   */
  #messageRefused(peerId: PeerId, reasons: string[]): void {
    this.stats.messagesRefused += 1;
    this.#refusals.set(peerId, this.refusalsOf(peerId) + 1);
    this.#warnings.warn(peerId, 'refused-message', { reason: reasons[0], reasons: reasons.length }, 'refused a message from peer; its result, if it has one, is rejected back to it');
  }

  /** The receive rule, inside a crank of its own. */
  #receive(context: KernelContext, peerId: PeerId, frame: Frame): void {
    const peers = context.store.peers;
    const known = peers.get(peerId) !== undefined;
    let peer = peers.ensure(peerId);
    switch (frame.type) {
      case 'hello': {
        if (!known) this.#pruneIdlePeers(context);
        const learned = peer.incarnation !== frame.incarnation;
        if (peer.incarnation !== null && learned) {
          this.#forgetPeerState(context, peer, frame.incarnation, frame.startedOver);
          peer = peers.ensure(peerId);
        } else if (learned) {
          peers.setIncarnation(peerId, frame.incarnation);
        }
        const session = this.#sessionFor(peer);
        // Acks count only from a peer that knows which incarnation of this store it talks to.
        let acksValid = frame.yourIncarnation === this.#incarnationFor(peer);
        let mismatch: Session['pairMismatch'] = acksValid || frame.yourIncarnation === null ? null : 'names-old-incarnation';
        const rollback = acksValid && !learned ? rollbackOf(peer, frame, (seq) => peers.sentDigest(peer, seq)) : undefined;
        if (rollback?.behind === 'self') {
          this.#startPairOver(context, peer, rollback);
          acksValid = false;
          mismatch = 'names-old-incarnation';
        } else if (rollback?.behind === 'peer') {
          this.#peerBehind(context, peer, rollback);
          acksValid = false;
          mismatch = 'peer-behind';
        }
        if (acksValid) this.#applyAck(context, peer, frame.receivedSeq);
        if (acksValid && peer.startedOver !== null) peers.clearStartedOver(peerId);
        // Memory, set now: the frames after this hello in the same group of
        // cranks must be judged by it. A rollback closes the connection, and
        // the next connection starts with a new hello.
        session.peerAcksValid = acksValid;
        session.pairMismatch = mismatch;
        if (acksValid) session.helloUntilNamed = false;
        session.peerIncarnation = frame.incarnation;
        session.peerAddresses = frame.addresses.join('\n');
        this.#learnAddresses(context, peer, frame.addresses);
        // Tell the peer what it lacks: our incarnation, or that we know its new one.
        if (!acksValid || learned) session.helloOwed = true;
        context.buffer.postCommit.push(() => this.#resendFromAcked(peerId));
        return;
      }
      case 'ack':
        if (this.#acksValid(peerId)) this.#applyAck(context, peer, frame.ack);
        return;
      case 'msg': {
        const session = this.#sessions.get(peerId);
        if (session?.pairMismatch !== null && session?.pairMismatch !== undefined) {
          // Screened before the hello that set it was applied: not read, and the screen starts again from the store.
          this.stats.framesOfMismatchedPair += 1;
          session.queuedSeq = peer.receivedSeq;
          return;
        }
        if (this.#acksValid(peerId)) this.#applyAck(context, peer, frame.ack);
        const redelivered = this.environment.sabotage === 'skip-dedup' && frame.seq <= peer.receivedSeq;
        if (frame.seq === peer.receivedSeq + 1 || redelivered) {
          const refusals = consumeMessage(context, peer.endpoint, frame.body, redelivered);
          if (refusals.length > 0) context.buffer.postCommit.push(() => this.#messageRefused(peerId, refusals));
          // The digest of what is consumed: with it a rolled-back sender's reuse of a number shows (rollback.ts).
          if (frame.seq > peer.receivedSeq) peers.setReceived(peerId, frame.seq, bodyDigest(JSON.stringify(frame.body)));
          this.environment.crashPoints?.pass('after-receive-before-commit');
        } else if (frame.seq <= peer.receivedSeq) {
          this.stats.duplicatesDropped += 1;
          // Re-ack with the committed value, once this crank is committed.
          context.buffer.postCommit.push(() => this.#reack(peerId));
        } else {
          this.stats.gapsDropped += 1;
          const session = this.#sessions.get(peerId);
          if (session?.peerIncarnation === null) context.buffer.postCommit.push(() => this.#helloNowAndThen(session));
        }
        return;
      }
      default:
        throw new ProtocolError(`unknown frame ${JSON.stringify(frame satisfies never)}`);
    }
  }

  /** A new peer's row: the rows of the oldest peers that never shared anything go, beyond {@link SessionOptions.maxIdlePeers}. */
  #pruneIdlePeers(context: KernelContext): void {
    const pruned = context.store.peers.pruneIdle(this.options.maxIdlePeers);
    if (pruned.length > 0) context.buffer.postCommit.push(() => pruned.forEach((peerId) => this.#endSession(peerId)));
  }

  /**
   * Keeps the dial addresses a peer announced, in the store, so that this
   * node can reach it to deliver what it owes even if the peer dialled in
   * and then went idle, and after this node restarts.
   */
  #learnAddresses(context: KernelContext, peer: PeerRecord, addresses: string[]): void {
    if (addresses.every((address) => peer.addresses.includes(address))) return;
    context.store.peers.addAddresses(peer.peerId, addresses);
    context.buffer.postCommit.push(() => {
      this.transport.addPeerAddresses(peer.peerId, addresses).catch((error: unknown) => this.logger.debug({ peerId: peer.peerId, err: error }, 'could not add a peer\'s addresses'));
    });
  }

  #acksValid(peerId: PeerId): boolean {
    return this.#sessions.get(peerId)?.peerAcksValid === true;
  }

  #reack(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    session.ackSent = -1;
    this.#transmit(session);
  }

  /** A cumulative ack: rows up to it are delivered and leave the outbox. */
  #applyAck(context: KernelContext, peer: PeerRecord, ack: number): void {
    if (ack >= peer.nextSendSeq) {
      // A frame of the pair as it was before it started over in this process
      // (on an older connection, read after the new one's hello): not the peer's error.
      if ((this.#sessions.get(peer.peerId)?.sequences ?? 0) > 0) {
        this.stats.framesOfMismatchedPair += 1;
        return;
      }
      throw new ProtocolError(`peer acked ${ack}, but only ${peer.nextSendSeq - 1} were sent`);
    }
    if (ack <= peer.ackedSeq) return;
    const lost = this.environment.sabotage === 'lose-outbox-row' && ack + 1 < peer.nextSendSeq ? 1 : 0;
    context.store.peers.deleteOutboxUpTo(peer.peerId, ack + lost);
    this.environment.crashPoints?.pass('outbox-delete-after-ack');
    context.store.peers.setAckedSeq(peer.peerId, ack);
    this.#refusing.delete(peer.peerId); // room again: the next refusal starts a new run
  }

  /**
   * Peer amnesia: the peer's store was wiped (a new incarnation). What it
   * decided will never be settled and what it exported is gone; the pair's
   * sequence state starts over. The one case exactly-once cannot cover.
   */
  #forgetPeerState(context: KernelContext, peer: PeerRecord, incarnation: string, startedOver: StartedOver | null): void {
    const change = `(incarnation ${peer.incarnation} -> ${incarnation})`;
    const reason =
      startedOver === null
        ? `peer ${peer.peerId} lost its state ${change}`
        : `peer ${peer.peerId} found its store rolled back to an older copy and started the pair over ${change}`;
    const dropped = dropPeerState(context, peer, reason);
    context.store.peers.setIncarnation(peer.peerId, incarnation);
    context.buffer.postCommit.push(() => {
      // What the old incarnation had consumed of this node's messages, and this node of its: gone with its state.
      if (startedOver === null) this.logger.warn({ peerId: peer.peerId, consumedByIt: peer.ackedSeq, consumedHere: peer.receivedSeq, ...dropped }, reason);
      else this.logger.warn({ peerId: peer.peerId, ...startedOver, ...dropped }, `${reason}: ${describeRollback({ behind: 'peer', ...startedOver })}`);
      this.#startSequencesOver(peer.peerId);
    });
  }

  /** The pair's sequences start over from zero (its store state already has): the session's memory of them follows. */
  #startSequencesOver(peerId: PeerId): void {
    const session = this.#sessions.get(peerId);
    if (session === undefined) return;
    Object.assign(session, { committedSendSeq: 0, committedReceivedSeq: 0, committedReceivedDigest: null, queuedSeq: 0, ackedSeq: 0, sentUpTo: 0, ackSent: -1, windowSent: -1 });
    session.sequences += 1;
    session.credit.reset(0);
  }

  /**
   * This node's store is behind the peer's: it was rolled back (restored
   * from an older copy) since the pair last spoke. The pair starts over as
   * a new incarnation of this node, for this peer alone: what the peer
   * decided is rejected here and what this node owed it dropped (its
   * senders' results rejected), as for amnesia; the peer sees the new
   * incarnation in the next hello and does the same on its side. What
   * either side consumed that the other forgot is logged, with its range.
   */
  #startPairOver(context: KernelContext, peer: PeerRecord, rollback: Rollback): void {
    const losses = describeRollback(rollback);
    const reason = `this node's store is behind peer ${peer.peerId}'s: it was rolled back to an older copy; the pair starts over as a new incarnation of this node`;
    const dropped = dropPeerState(context, peer, reason);
    context.store.peers.startOver(peer.peerId, this.environment.entropy(16), { forgottenSends: rollback.forgottenSends, lostReceives: rollback.lostReceives });
    context.buffer.postCommit.push(() => {
      this.logger.error({ peerId: peer.peerId, forgottenSends: rollback.forgottenSends, lostReceives: rollback.lostReceives, ...dropped }, `${reason}: ${losses}`);
      this.#startSequencesOver(peer.peerId);
      const session = this.#sessions.get(peer.peerId);
      if (session !== undefined) Object.assign(session, { helloUntilNamed: true, helloOwed: true });
    });
  }

  /**
   * The peer's store is behind this node's: it was rolled back. Nothing it
   * sends is read until it finds out (from this node's hello, which shows
   * it the numbers) and comes back as a new incarnation; its connection is
   * closed so that whatever it sends next starts with a fresh hello (a
   * hello from before a reconnect could look behind too, and this ends it).
   */
  #peerBehind(context: KernelContext, peer: PeerRecord, rollback: Rollback): void {
    context.buffer.postCommit.push(() => {
      this.#warnings.warn(peer.peerId, 'peer-behind', { forgottenSends: rollback.forgottenSends, lostReceives: rollback.lostReceives },
        `peer ${peer.peerId}'s store is behind this node's: it was rolled back to an older copy; its messages are not read until it starts the pair over: ${describeRollback(rollback)}`);
      // Then this node's hello, on a new connection: what the close cut off
      // (the peer's own news, perhaps) is asked for again by it.
      this.#closeConnection(peer.peerId, 'its store is behind this node\'s (rolled back)', () => {
        const session = this.#sessions.get(peer.peerId);
        if (session === undefined) return;
        session.helloOwed = true;
        this.#transmit(session);
      });
    });
  }
}
