import type { PeerRecord, StartedOver } from '../store/peers.js';
import type { Frame } from './frames.js';

type Hello = Extract<Frame, { type: 'hello' }>;

/**
 * A pair's state that a store restored from an older copy cannot hold, and
 * which side it shows was rolled back. Its ranges (sequence numbers, first
 * and last): `forgottenSends`, the rolled-back side's messages the other
 * consumed after the copy was made, which the rolled-back side no longer
 * remembers sending; `lostReceives`, the other side's messages the
 * rolled-back side had consumed (and acked) since, whose effects went with
 * the state thrown away.
 */
export interface Rollback extends StartedOver {
  /** `self`: this node's store is behind the peer's; `peer`: the peer's is behind this node's. */
  behind: 'self' | 'peer';
}

const range = (first: number, last: number): [number, number] | null => (last >= first ? [first, last] : null);

/**
 * What a peer's hello, about a pair whose incarnations both sides agree on,
 * shows of a rollback. In a pair that was never rolled back, neither side
 * can have consumed more than the other sent, nor have seen an ack beyond
 * what the other consumed (acks name only committed consumption), nor
 * consumed a message under a number the other used for a different one
 * (the digest of the last message consumed, against the sender's own).
 * Each side checks both directions, so whichever hears the other first
 * finds it. Undefined: the numbers are consistent.
 */
export function rollbackOf(peer: PeerRecord, hello: Hello, sentDigest: (seq: number) => string | undefined): Rollback | undefined {
  const sent = peer.nextSendSeq - 1;
  if (hello.receivedSeq > sent || hello.ackedSeq > peer.receivedSeq) {
    return { behind: 'self', forgottenSends: range(sent + 1, hello.receivedSeq), lostReceives: range(peer.receivedSeq + 1, hello.ackedSeq) };
  }
  // The peer consumed a message under a number this node has since used for
  // another one: this node sent again after a rollback, past where it was.
  const ours = hello.receivedSeq === 0 || hello.receivedDigest === null ? undefined : sentDigest(hello.receivedSeq);
  if (ours !== undefined && ours !== hello.receivedDigest) {
    return { behind: 'self', forgottenSends: range(peer.ackedSeq + 1, hello.receivedSeq), lostReceives: range(peer.receivedSeq + 1, hello.ackedSeq) };
  }
  if (hello.sentSeq < peer.receivedSeq || hello.receivedSeq < peer.ackedSeq) {
    return { behind: 'peer', forgottenSends: range(hello.sentSeq + 1, peer.receivedSeq), lostReceives: range(hello.receivedSeq + 1, peer.ackedSeq) };
  }
  return undefined;
}

/** The log line's words for the ranges of a rollback. */
export function describeRollback(rollback: Rollback): string {
  const [rolledBack, other] = rollback.behind === 'self' ? ['this node', 'the peer'] : ['the peer', 'this node'];
  const parts = [];
  if (rollback.forgottenSends !== null) parts.push(`${other} had consumed ${rolledBack}'s messages #${rollback.forgottenSends[0]}-#${rollback.forgottenSends[1]}, which ${rolledBack} no longer remembers sending`);
  if (rollback.lostReceives !== null) parts.push(`${rolledBack} had consumed ${other}'s messages #${rollback.lostReceives[0]}-#${rollback.lostReceives[1]}, and their effects were lost with the state thrown away`);
  return parts.join('; ');
}
