import type { KernelContext } from '../kernel/context.js';
import type { Kernel } from '../kernel/kernel.js';
import type { KernelStore } from '../store/index.js';
import type { PeerId, Transport } from '../net/transport.js';
import type { Logger } from '../util/logger.js';
import { PeerWarnings } from '../util/peerWarnings.js';
import { BadFrameError, decodeFrame, type Frame } from './frames.js';
import { HelloRule } from './helloRule.js';
import { dropPeerState, type DroppedPeerState } from './peerState.js';
import { ReceiveRule } from './receiveRule.js';
import { ProtocolError } from './remoteTranslator.js';
import { makeRemoteRouter } from './router.js';
import { newSessionStats, SessionTable, type SessionEnvironment, type SessionOptions, type SessionStats } from './session.js';
import { Transmitter } from './transmitter.js';

/** A peer this node does not have (or no longer has) to act on. */
export class UnknownPeerError extends Error {
  override name = 'UnknownPeerError';
}

/**
 * Most receive steps (frames, mostly) of one peer in one crank: what a
 * rollback undoes, how long a crank may hold the thread, and how many
 * deliveries one run brings. Those should end in the group of cranks that
 * received them (kernel.ts, #nextWork): at 150-350 µs a delivery, 32 take
 * 5-11 ms, about a group's 10 ms (256 frames a run let most deliveries
 * spill into the next group: a run-queue row, a promise and its c-list
 * entries written, and deleted at the next COMMIT).
 */
const maxStepsPerReceiveCrank = 32;

/**
 * The sessions with every peer, composed of three parts that share one
 * table of sessions (session.ts): the transmitter (transmitter.ts) writes
 * committed outbox rows (never before the COMMIT that wrote them), acks
 * and hellos, and resends; the hello rule (helloRule.ts) judges hellos:
 * incarnations, rollbacks, addresses; the receive rule (receiveRule.ts)
 * consumes messages and applies acks in cranks. This part takes frames
 * from the transport, refuses bad ones (closing the connection), and queues
 * the rest as cranks, a run of one peer's frames in one; acks leave only
 * after the crank that consumed what they acknowledge is committed.
 */
export class PeerSessions {
  readonly stats: SessionStats = newSessionStats();

  readonly #table: SessionTable;
  readonly #transmitter: Transmitter;
  readonly #receiveRule: ReceiveRule;
  readonly #helloRule: HelloRule;
  /** Peers the transport has a connection with, as its handlers last said (for status and metrics). */
  readonly #connected = new Set<PeerId>();
  /** Peers whose sends are being refused (a full outbox), so that a run of refusals is logged once. */
  readonly #refusing = new Set<PeerId>();
  /** Peers whose outbox holds send-only messages above its limit since its last ack that made room. */
  readonly #holding = new Set<PeerId>();
  /** Messages refused per peer since start (for metrics). */
  readonly #refusals = new Map<PeerId, number>();
  /** Peers whose connection is being closed, why, and how many frames came meanwhile (one log line per close). */
  readonly #closing = new Map<PeerId, { reason: string; frames: number }>();
  readonly #warnings: PeerWarnings;
  /** Peers the operator forgot (their rows stay in the store, as tombstones): their frames are refused. */
  readonly #forgotten = new Set<PeerId>();
  /** Per peer, the receive steps of its crank queued and not yet begun: frames that come meanwhile join it. */
  readonly #receiving = new Map<PeerId, Array<(context: KernelContext) => void>>();

  constructor(
    private readonly kernel: Kernel,
    private readonly store: KernelStore,
    private readonly transport: Transport,
    private readonly logger: Logger,
    private readonly options: SessionOptions,
    environment: SessionEnvironment,
  ) {
    for (const peer of store.peers.all()) if (peer.forgotten !== null) this.#forgotten.add(peer.peerId);
    this.#warnings = new PeerWarnings(logger, environment.clock, environment.peerWarningIntervalMs);
    this.#table = new SessionTable(options, environment.clock);
    this.#transmitter = new Transmitter(this.#table, store, transport, logger, options, environment, this.stats, (peer) => this.#helloRule.incarnationFor(peer));
    this.#receiveRule = new ReceiveRule(this.#table, this.#transmitter, this.stats, environment, {
      queue: (peerId, apply) => this.#queueReceive(peerId, apply, true),
      // Room again: the next refusal, or send-only message held, starts a new run.
      roomFor: (peerId) => {
        this.#refusing.delete(peerId);
        this.#holding.delete(peerId);
      },
      refused: (peerId, reasons) => this.#messageRefused(peerId, reasons),
      // As the store has it in the crank: a restore's new incarnation counts from its crank on, not from its COMMIT as in hellos.
      incarnationFor: (peer) => peer.localIncarnation ?? store.meta.incarnation(),
    });
    this.#helloRule = new HelloRule(kernel, store, transport, this.#table, this.#transmitter, this.#receiveRule, logger, this.#warnings, options, environment, {
      closeConnection: (peerId, reason, closed) => this.#closeConnection(peerId, reason, closed),
    });
    const router = makeRemoteRouter(options.maxUnackedPerPeer, {
      refused: (peerId, unacked) => this.#sendRefused(peerId, unacked),
      heldAboveLimit: (peerId, unacked) => this.#sendOnlyHeld(peerId, unacked),
      droppedForForgotten: (peerId, reason) => {
        this.stats.sendOnlyDropped += 1;
        this.#warnings.warn(peerId, 'send-only-dropped', { reason }, 'dropped a send-only message to a forgotten peer');
      },
    });
    kernel.setRemoteRouter(environment.routerSeam?.(router, () => this.#transmitter.afterCommit(this.store.peers.all())) ?? router);
    kernel.onCommit(() => {
      // Read at the COMMIT; learned and sent from once it is on disk.
      const committed = this.store.peers.all();
      return { beforeActions: () => this.#transmitter.learnCommittedPairs(committed), afterActions: () => this.#transmitter.afterCommit(committed) };
    });
    transport.setHandlers({
      frame: (peerId, bytes) => this.#onFrameOrStop(peerId, bytes),
      helloFrame: (peerId) => this.#transmitter.hello(peerId),
      connected: (peerId) => {
        this.#connected.add(peerId);
        this.#transmitter.reachable(peerId);
      },
      disconnected: (peerId) => {
        this.#connected.delete(peerId);
        this.#transmitter.resendFromAcked(peerId);
      },
    });
  }

  /**
   * Starts the sessions: rows committed before a restart go out now. A
   * store restored from a backup (`ken-node restore`) first becomes a new
   * incarnation (helloRule.ts).
   */
  async start(): Promise<void> {
    const restoredFrom = this.store.meta.restoredFrom();
    if (restoredFrom !== undefined) await this.#helloRule.startOverAfterRestore(restoredFrom);
    this.#transmitter.afterCommit(this.store.peers.all());
  }

  /** A send refused for a full outbox: counted; logged when a run of refusals starts, not for each one. */
  #sendRefused(peerId: PeerId, unacked: number): void {
    this.stats.sendsRefused += 1;
    if (this.#refusing.has(peerId)) return;
    this.#refusing.add(peerId);
    this.logger.warn({ peerId, unacked, limit: this.options.maxUnackedPerPeer }, 'outbox to peer is full: refusing sends to it until it acks');
  }

  /** A send-only message held above the outbox limit: counted; logged when such a run starts. */
  #sendOnlyHeld(peerId: PeerId, unacked: number): void {
    this.stats.sendOnlyHeld += 1;
    if (this.#holding.has(peerId)) return;
    this.#holding.add(peerId);
    this.logger.warn(
      { peerId, unacked, limit: this.options.maxUnackedPerPeer },
      'outbox to peer is full: send-only messages to it are held above the limit until it acks (sends with results are refused)',
    );
  }

  /** Messages from `peerId` refused since this node started. */
  refusalsOf(peerId: PeerId): number {
    return this.#refusals.get(peerId) ?? 0;
  }

  /** Peers that had a message refused since start, with how many (for metrics). */
  refusalCounts(): ReadonlyMap<PeerId, number> {
    return this.#refusals;
  }

  /** Frames this node has not had acked, per peer (outbox depth). */
  outboxDepth(peerId: PeerId): number {
    return this.store.outbox.depth(peerId);
  }

  /** True while the transport reports a connection with `peerId`. */
  isConnected(peerId: PeerId): boolean {
    return this.#connected.has(peerId);
  }

  /** Settles once what committed rows and acks were released is on the wire (`Transmitter.sendsSettled`). */
  sendsSettled(): Promise<void> {
    return this.#transmitter.sendsSettled();
  }

  stop(): void {
    this.#transmitter.stop();
  }

  /**
   * A frame handler that never throws into the transport, where the error
   * would end a read loop unseen and leave the peer writing into a stream
   * nobody reads. The error goes to a crank of its own, judged there as
   * the receive rule's are: a protocol error refuses the peer; a storage
   * error or a broken invariant stops the kernel as what it is.
   */
  #onFrameOrStop(peerId: PeerId, bytes: Uint8Array): void {
    try {
      this.#onFrame(peerId, bytes);
    } catch (error) {
      this.#queueReceive(peerId, () => {
        throw error;
      });
    }
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
    let session = this.#table.get(peerId);
    if (session === undefined && frame.type === 'hello') {
      session = this.#table.for(this.store.peers.get(peerId) ?? { peerId, nextSendSeq: 1, ackedSeq: 0, receivedSeq: 0 });
    }
    if (session === undefined) {
      this.#refuse(peerId, `a ${frame.type} frame before any hello`);
      return;
    }
    if (frame.window !== session.peerWindow) {
      const grew = frame.window > (session.peerWindow ?? session.ackedSeq + 1);
      session.peerWindow = frame.window;
      if (grew) this.#transmitter.transmit(session);
    }
    if (frame.type === 'hello') {
      const refusal = this.#helloRule.dialAddressRefusal(peerId, frame.addresses);
      if (refusal !== undefined) {
        this.#refuse(peerId, refusal);
        return;
      }
      session.helloHeard = true;
      this.#helloRule.answerIfAcksLacking(session, frame);
      if (!this.#helloRule.isNews(session, frame)) return;
    }
    if (frame.type !== 'hello' && session.pairMismatch !== null) {
      this.stats.framesOfMismatchedPair += 1;
      // The hello that would end it may have been lost: say it again, now and then.
      this.#transmitter.helloNowAndThen(session);
      return;
    }
    // The pair's start-overs as the store has them now (earlier cranks of an open group included): its crank compares them.
    const startOvers = this.store.peers.get(peerId)?.startOvers ?? 0;
    if (frame.type === 'ack' && !this.#receiveRule.judgeAckOrAskForHello(session, frame.ack)) return;
    if (frame.type === 'msg' && this.#receiveRule.screen(session, frame, startOvers)) return;
    this.#queueReceive(peerId, (context) => this.#receive(context, peerId, frame, startOvers), frame.type !== 'hello');
  }

  /**
   * Queues a step of the receive rule for `peerId`. Message and ack steps
   * of one peer that come while its crank waits to begin (a run of frames,
   * read while the kernel was busy) join that crank, in order, up to
   * {@link maxStepsPerReceiveCrank}: one crank consumes the run. A hello
   * (which changes the session in memory as well as in the store) and an
   * error thrown on the way in each get a crank of their own. Only a
   * peer's protocol error closes its connection, and it rolls back the
   * whole crank: the good frames before the bad one are not consumed
   * either, and come again once the peer reconnects and resends (after its
   * hello, which a stream always opens with). They are not retried here
   * one by one: a retry would run after frames and hellos queued since,
   * out of the order the peer sent them. Anything else that fails in the
   * crank is not the peer's doing (a broken invariant, a storage error),
   * and goes on to stop the kernel as what it is.
   */
  #queueReceive(peerId: PeerId, apply: (context: KernelContext) => void, joins = false): void {
    const waiting = this.#receiving.get(peerId);
    if (joins && waiting !== undefined && waiting.length < maxStepsPerReceiveCrank) {
      waiting.push(apply);
      return;
    }
    const steps = [apply];
    if (joins) this.#receiving.set(peerId, steps);
    else this.#receiving.delete(peerId); // what comes after this step goes after it
    this.kernel.queueExternal({
      apply: (context) => {
        // Begun: the peer's next frames go to a crank of their own.
        if (this.#receiving.get(peerId) === steps) this.#receiving.delete(peerId);
        this.#receiveRule.startOfRun();
        for (const step of steps) step(context);
        this.#receiveRule.endOfRun(context);
      },
      failed: (error) => {
        if (!(error instanceof ProtocolError)) throw error;
        const session = this.#table.get(peerId);
        // Frames queued after the refused one will be judged against the store.
        if (session !== undefined) session.queuedSeq = session.committedReceivedSeq;
        this.#refuse(peerId, error.message);
      },
    });
    this.kernel.run().catch((error: unknown) => this.logger.error({ err: error }, 'kernel stopped'));
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
        this.#table.end(peerId);
        this.logger.warn({ peerId, ...dropped }, `${reason}: its promises were rejected and its outbox dropped`);
        this.#closeConnection(peerId, reason, () => {});
        done({ peerId, ...dropped });
      });
    });
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

  /** The receive rule, inside a crank; `startOvers`: the pair's start-overs when the frame was screened (receiveRule.ts). */
  #receive(context: KernelContext, peerId: PeerId, frame: Frame, startOvers: number): void {
    switch (frame.type) {
      case 'hello':
        this.#helloRule.apply(context, peerId, frame);
        return;
      case 'ack':
        this.#receiveRule.ack(context, peerId, frame, startOvers);
        return;
      case 'msg':
        this.#receiveRule.message(context, peerId, frame, startOvers);
        return;
      default:
        throw new ProtocolError(`unknown frame ${JSON.stringify(frame satisfies never)}`);
    }
  }
}
