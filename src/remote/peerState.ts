import type { KernelContext } from '../kernel/context.js';
import { errorCapData } from '../kernel/kmarshal.js';
import { resolvePromise } from '../kernel/resolve.js';
import type { PeerRecord } from '../store/peers.js';

/** What dropping a pair's state threw away, for the log line that says so. */
export interface DroppedPeerState {
  /** Promises the peer decided, now rejected with the reason. */
  rejectedPromises: number;
  /** Outbox rows never acked (sent or not), now deleted. */
  droppedMessages: number;
  /** Their sequence numbers, first and last; null if there were none. */
  droppedSeqs: [number, number] | null;
}

/**
 * Ends everything this node shares with a peer, inside a crank: the
 * promises it decided are rejected with `reason` (the results of messages
 * sent to it among them), the objects it exported are marked lost, the
 * pair's c-list, subscriptions, outbox and sequence numbers start over.
 * Used when the peer lost its state (a new incarnation) and when the
 * operator forgets it: either way, nothing it owes will ever come.
 */
export function dropPeerState(context: KernelContext, peer: PeerRecord, reason: string): DroppedPeerState {
  const { store } = context;
  let rejectedPromises = 0;
  for (const kpid of store.promises.decidedBy(peer.endpoint)) {
    resolvePromise(context, kpid, true, errorCapData(`promise ${kpid} was lost: ${reason}`));
    rejectedPromises += 1;
  }
  // The c-list starts over: a new incarnation reuses ref numbers.
  for (const entry of store.clist.entriesOf(peer.endpoint)) {
    store.clist.delete(peer.endpoint, entry.kref);
    const object = entry.kref.startsWith('ko') ? store.objects.get(entry.kref as `ko${number}`) : undefined;
    if (object?.owner === peer.endpoint) {
      store.objects.markLost(object.kref, `object ${object.kref} was lost: ${reason}`);
      context.refs.collectLater(object.kref);
    } else {
      context.refs.decref(entry.kref);
    }
  }
  // So do the refs retiring since this node notified the peer: none of its messages will name them now.
  for (const kpid of store.retiringRefs.takeAll(peer.endpoint)) context.refs.decref(kpid);
  // Its subscriptions name refs of a c-list that is gone.
  store.promises.unsubscribeEverywhere(peer.endpoint);
  const droppedMessages = store.outbox.depth(peer.peerId);
  const droppedSeqs: [number, number] | null = droppedMessages === 0 ? null : [peer.ackedSeq + 1, peer.nextSendSeq - 1];
  store.peers.resetSequences(peer.peerId);
  return { rejectedPromises, droppedMessages, droppedSeqs };
}
