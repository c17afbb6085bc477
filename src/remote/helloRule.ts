import type { KernelContext } from '../kernel/context.js';
import type { Kernel } from '../kernel/kernel.js';
import type { PeerId, Transport } from '../net/transport.js';
import type { KernelStore } from '../store/index.js';
import type { PeerRecord, StartedOver } from '../store/peers.js';
import type { Logger } from '../util/logger.js';
import type { PeerWarnings } from '../util/peerWarnings.js';
import type { Frame } from './frames.js';
import { dropPeerState } from './peerState.js';
import type { ReceiveRule } from './receiveRule.js';
import { describeRollback, rollbackOf, type Rollback } from './rollback.js';
import type { Session, SessionEnvironment, SessionOptions, SessionTable } from './session.js';
import type { Transmitter } from './transmitter.js';

type HelloFrame = Extract<Frame, { type: 'hello' }>;

/**
 * Hellos and incarnations: what each side of a pair is (which incarnation
 * of its store), what it holds of the pair (its numbers, for rollback
 * detection: rollback.ts), and where it can be dialled. A peer with a new
 * incarnation lost its state (amnesia); a store behind its peer's was
 * rolled back. Either way the pair starts over, and both sides log what
 * was lost. The incarnation this node presents is the store's, or the
 * pair's own once that pair started over.
 */
export class HelloRule {
  /** The store's incarnation: what this node presents to every peer but those whose pair started over (`localIncarnation`). */
  #incarnation: string;

  constructor(
    private readonly kernel: Kernel,
    private readonly store: KernelStore,
    private readonly transport: Transport,
    private readonly table: SessionTable,
    private readonly transmitter: Transmitter,
    private readonly receiveRule: ReceiveRule,
    private readonly logger: Logger,
    private readonly warnings: PeerWarnings,
    private readonly options: SessionOptions,
    private readonly environment: SessionEnvironment,
    private readonly hooks: {
      /** Closes the peer's connection once; `closed` runs when it is done. */
      closeConnection(peerId: PeerId, reason: string, closed: () => void): void;
    },
  ) {
    this.#incarnation = store.meta.incarnation();
  }

  /** The incarnation this node presents to `peer`. */
  incarnationFor(peer: Pick<PeerRecord, 'localIncarnation'> | undefined): string {
    return peer?.localIncarnation ?? this.#incarnation;
  }

  /**
   * False for a hello that says nothing the last one did not (the same
   * incarnations, no ack beyond what is known): it costs no crank. A new
   * connection's resend does not wait for it: the transport's `connected`
   * starts it, so a peer that repeats hellos cannot make this node resend.
   */
  isNews(session: Session, frame: HelloFrame): boolean {
    return (
      session.peerIncarnation !== frame.incarnation ||
      session.peerAddresses !== frame.addresses.join('\n') ||
      // Numbers that show a rollback, on either side (rollback.ts judges them in the crank).
      frame.sentSeq < session.committedReceivedSeq ||
      frame.receivedSeq < session.ackedSeq ||
      frame.receivedSeq > session.committedSendSeq ||
      frame.ackedSeq > session.committedReceivedSeq ||
      session.peerAcksValid !== (frame.yourIncarnation === this.incarnationFor(this.store.peers.get(session.peerId))) ||
      frame.receivedSeq > session.ackedSeq
    );
  }

  /**
   * Why the dial addresses of a peer's hello are refused: one this
   * transport cannot parse, or one that names another peer (dialling it
   * would reach that peer, not this one). Undefined if they are fine.
   */
  dialAddressRefusal(peerId: PeerId, addresses: readonly string[]): string | undefined {
    const foreign = addresses.find((address) => address.includes('/p2p/') && !address.endsWith(`/p2p/${peerId}`));
    if (foreign !== undefined) return `hello names the dial address ${JSON.stringify(foreign)}, which is another peer's`;
    const refusal = this.transport.checkPeer(peerId, addresses);
    return refusal === undefined ? undefined : `hello names a dial address this node cannot use: ${refusal}`;
  }

  /**
   * A hello that shows the peer has applied fewer of our acks than we
   * committed consumed: they are in flight, or lost on it (the hello that
   * opened our stream to it went missing, so it ignores our acks: it asks
   * with its own hello). Ours, at most once per `resendMs`, carries the ack
   * as `receivedSeq`, which counts from any hello it judges valid. No crank.
   */
  answerIfAcksLacking(session: Session, frame: HelloFrame): void {
    if (frame.ackedSeq < session.committedReceivedSeq) this.transmitter.helloNowAndThen(session);
  }

  /** A hello, in its crank: incarnations compared, rollbacks found, the peer's acks judged valid or not, its addresses kept. */
  apply(context: KernelContext, peerId: PeerId, frame: HelloFrame): void {
    const peers = context.store.peers;
    const known = peers.get(peerId) !== undefined;
    let peer = peers.ensure(peerId);
    if (!known) this.#pruneIdlePeers(context);
    const learned = peer.incarnation !== frame.incarnation;
    if (peer.incarnation !== null && learned) {
      this.#forgetPeerState(context, peer, frame.incarnation, frame.startedOver);
      peer = peers.ensure(peerId);
    } else if (learned) {
      peers.setIncarnation(peerId, frame.incarnation);
    }
    const session = this.table.for(peer);
    // Acks count only from a peer that knows which incarnation of this store it talks to.
    let acksValid = frame.yourIncarnation === this.incarnationFor(peer);
    let mismatch: Session['pairMismatch'] = acksValid || frame.yourIncarnation === null ? null : 'names-old-incarnation';
    const rollback = acksValid && !learned ? rollbackOf(peer, frame, (seq) => context.store.outbox.sentDigest(peer, seq)) : undefined;
    if (rollback?.behind === 'self') {
      this.#startPairOver(context, peer, rollback);
      acksValid = false;
      mismatch = 'names-old-incarnation';
    } else if (rollback?.behind === 'peer') {
      this.#peerBehind(context, peer, rollback);
      acksValid = false;
      mismatch = 'peer-behind';
    }
    if (acksValid) this.receiveRule.applyAck(context, peer, frame.receivedSeq);
    if (acksValid && peer.startedOver !== null) peers.clearStartedOver(peerId);
    // Memory, set now: the frames after this hello in the same group of
    // cranks must be judged by it. A rollback closes the connection, and
    // the next connection starts with a new hello.
    session.peerAcksValid = acksValid;
    session.pairMismatch = mismatch;
    if (acksValid) session.helloUntilNamed = false;
    const firstHeard = session.peerIncarnation === null;
    session.peerIncarnation = frame.incarnation;
    session.peerAddresses = frame.addresses.join('\n');
    this.#learnAddresses(context, peer, frame.addresses);
    // Tell the peer what it lacks: our incarnation, or that we know its new
    // one. Owed from the COMMIT on: a hello written before it (a stream
    // opening between cranks) tells the committed pair, not this one.
    const owed = !acksValid || learned;
    // Resent from the first unacked row only when the pair is new to this
    // process or changed; a hello whose news is acks or addresses (one that
    // answers ours, say) sends what is next: resending then would repeat
    // every frame in flight, and a peer could make this node resend at will.
    const resend = owed || firstHeard || rollback !== undefined;
    context.buffer.postCommit.push(() => {
      if (owed) session.helloOwed = true;
      if (resend) this.transmitter.resendFromAcked(peerId);
      else this.transmitter.transmit(session);
    });
  }

  /**
   * A store restored from a backup (`ken-node restore`) becomes a new
   * incarnation, in a crank that starts every pair over: peers remember
   * more than the copy does, and will treat it as a node that lost its state.
   */
  startOverAfterRestore(restoredFrom: string): Promise<void> {
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
          Object.assign(this.table.for(context.store.peers.get(peer.peerId) ?? peer), { helloUntilNamed: true, helloOwed: true });
          // After the session exists: its count of start-overs is what tells an old-pair ack from a peer's error.
          this.table.startSequencesOver(peer.peerId);
        }
        this.logger.warn({ peers: dropped }, `${reason}: every pair starts over; its peers reject what it decided and drop what they owed it`);
        done();
      });
    });
  }

  /** A new peer's row: the rows of the oldest peers that never shared anything go, beyond {@link SessionOptions.maxIdlePeers}. */
  #pruneIdlePeers(context: KernelContext): void {
    const pruned = context.store.peers.pruneIdle(this.options.maxIdlePeers);
    if (pruned.length > 0) context.buffer.postCommit.push(() => pruned.forEach((peerId) => this.table.end(peerId)));
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
      this.table.startSequencesOver(peer.peerId);
    });
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
      this.table.startSequencesOver(peer.peerId);
      const session = this.table.get(peer.peerId);
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
      this.warnings.warn(peer.peerId, 'peer-behind', { forgottenSends: rollback.forgottenSends, lostReceives: rollback.lostReceives },
        `peer ${peer.peerId}'s hello shows its store behind this node's: it was rolled back to an older copy (or the hello is an old one, read late from an older connection, and the next clears it); its messages are not read until a hello shows it consistent again or as a new incarnation: ${describeRollback(rollback)}`);
      // Then this node's hello, on a new connection: what the close cut off
      // (the peer's own news, perhaps) is asked for again by it.
      this.hooks.closeConnection(peer.peerId, 'its store is behind this node\'s (rolled back)', () => {
        const session = this.table.get(peer.peerId);
        if (session === undefined) return;
        session.helloOwed = true;
        this.transmitter.transmit(session);
      });
    });
  }
}

