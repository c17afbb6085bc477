import type { KernelStore } from '../store/index.js';
import type { NodeEnd } from './checker.js';

/** What a node's store says for the checker's G5 part: unacked outbox rows per peer, and results still awaited from peers. */
export function nodeEndOf(name: string, store: KernelStore, nameOf: (peerId: string) => string = (peerId) => peerId): NodeEnd {
  const outboxDepth: Record<string, number> = {};
  let unsettledFromPeers = 0;
  for (const peer of store.peers.all()) {
    outboxDepth[nameOf(peer.peerId)] = store.outbox.depth(peer.peerId);
    unsettledFromPeers += store.promises.decidedBy(peer.endpoint).length;
  }
  return { name, outboxDepth, unsettledFromPeers };
}

/**
 * True when the node has nothing left to deliver or to hear: an empty run
 * queue, every outbox row acked, and every result it awaits from a peer
 * settled (a pair that started over settles them with the hello that says so).
 */
export function isDrained(end: NodeEnd, runQueueLength: number): boolean {
  return runQueueLength === 0 && Object.values(end.outboxDepth).every((depth) => depth === 0) && end.unsettledFromPeers === 0;
}
