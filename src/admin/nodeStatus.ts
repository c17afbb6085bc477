import type { KenNode } from '../node/node.js';
import type { SessionStats } from '../remote/session.js';
import type { Durability } from '../store/index.js';
import { vatSummaries, type VatSummary } from '../kernel/vatOps.js';

/**
 * What `/status`, `/peers` and `/metrics` report, read from the node when
 * asked. The store is read on the kernel's own connection, so a count may
 * include cranks not yet committed (at most one group commit ahead).
 */

/** One peer, as this node sees it. */
export interface PeerState {
  peerId: string;
  /** The transport has a connection with it. */
  connected: boolean;
  /** Where it is dialled (learned from ocap URLs and its hellos). */
  addresses: string[];
  /** Why the operator forgot it (`ken-node peers --forget`); null if not. */
  forgotten: string | null;
  /** Messages this node sent it (the last sequence number used). */
  sent: number;
  /** Messages it acknowledged (cumulative). */
  acked: number;
  /** Messages consumed from it (cumulative). */
  received: number;
  /** Messages not yet acknowledged: the outbox. */
  outboxDepth: number;
  /** Age of the oldest unacknowledged message, seconds; null when the outbox is empty. */
  oldestUnackedAgeSeconds: number | null;
}


export interface NodeStatus {
  peerId: string;
  /** Addresses peers can dial, as this node's ocap URLs carry them. */
  addresses: string[];
  durability: Durability;
  startedAt: string;
  uptimeSeconds: number;
  /** The bootstrap vat's name, if the config has one. */
  bootstrapVat: string | null;
  kernel: { cranks: number; commits: number; abortedCranks: number; runQueueLength: number };
  sessions: SessionStats;
  vats: VatSummary[];
  peers: PeerState[];
}

export function vatStatesOf(node: KenNode): VatSummary[] {
  return vatSummaries(node.store);
}

export function peerStates(node: KenNode, nowMs = Date.now()): PeerState[] {
  return node.store.peers.all().map((peer) => {
    const writtenAt = node.store.outbox.oldestWrittenAt(peer.peerId);
    return {
      peerId: peer.peerId,
      connected: node.sessions.isConnected(peer.peerId),
      addresses: peer.addresses,
      forgotten: peer.forgotten,
      sent: peer.nextSendSeq - 1,
      acked: peer.ackedSeq,
      received: peer.receivedSeq,
      outboxDepth: node.sessions.outboxDepth(peer.peerId),
      oldestUnackedAgeSeconds: writtenAt === undefined ? null : Math.max(0, nowMs - writtenAt) / 1000,
    };
  });
}

export function nodeStatus(node: KenNode, started: Date, bootstrapVat: string | undefined): NodeStatus {
  const now = Date.now();
  const { cranks, commits, abortedCranks } = node.kernel.stats;
  return {
    peerId: node.peerId,
    addresses: node.transport.addresses(),
    durability: node.store.durability,
    startedAt: started.toISOString(),
    uptimeSeconds: Math.round((now - started.getTime()) / 1000),
    bootstrapVat: bootstrapVat ?? null,
    kernel: { cranks, commits, abortedCranks, runQueueLength: node.kernel.runQueueLength },
    sessions: { ...node.sessions.stats },
    vats: vatStatesOf(node),
    peers: peerStates(node, now),
  };
}
