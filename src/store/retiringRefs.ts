import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { KPromiseRef, RemoteId } from './types.js';

/** A peer's ref to a promise this node notified it of: still read in the peer's messages, never written in new ones. */
export interface RetiringRef {
  readonly eref: string;
  readonly kpid: KPromiseRef;
  /** The seq of the message (to the peer) that carried the notify. */
  readonly seq: number;
}

/**
 * One peer's retiring refs, in seq order: those before `head` were dropped
 * in the open group, the first `stored` are SQLite's rows as of the last
 * COMMIT, and `byEref` indexes the live ones.
 */
interface PeerRetiring {
  entries: RetiringRef[];
  head: number;
  stored: number;
  readonly byEref: Map<string, RetiringRef>;
}

/**
 * The refs of promises this node decided and notified a peer of, kept for
 * the peer's messages made before it consumed the notify (a message sent
 * to a result it has not yet seen resolved, say), until one of its
 * messages says it had (`seen`, docs/protocol.md, "Promise retirement").
 * Few per peer (those notified in about a round trip), so each peer's are
 * held whole in memory once read, and every change waits for the COMMIT,
 * as the pending tables' do: a ref retired and dropped within one group
 * is never written. A crank's changes are undone by restoring where each
 * peer's list stood when the crank first changed it (appends at the end,
 * drops from the front: nothing else moves).
 */
export function makeRetiringRefStore(db: SqliteDatabase, tx: TransactionControl) {
  const insert = db.prepare<[string, string, string, number]>('INSERT INTO clist_retiring (endpoint, eref, kref, seq) VALUES (?, ?, ?, ?)');
  const deleteThrough = db.prepare<[string, number]>('DELETE FROM clist_retiring WHERE endpoint = ? AND seq <= ?');
  const ofPeer = db.prepare<[string], { eref: string; kref: string; seq: number }>(
    'SELECT eref, kref, seq FROM clist_retiring WHERE endpoint = ? ORDER BY seq, eref',
  );
  const peers = new Map<RemoteId, PeerRetiring>();
  /** Per peer changed in the open crank: where its list stood when the crank first changed it. */
  const crankStart = new Map<RemoteId, { length: number; head: number }>();
  /** Peers changed since the COMMIT. */
  const changed = new Set<RemoteId>();
  let inCrank = false;

  function peerOf(endpoint: RemoteId): PeerRetiring {
    let peer = peers.get(endpoint);
    if (peer === undefined) {
      const entries = ofPeer.all(endpoint).map((row): RetiringRef => ({ eref: row.eref, kpid: row.kref as KPromiseRef, seq: row.seq }));
      peer = { entries, head: 0, stored: entries.length, byEref: new Map(entries.map((entry) => [entry.eref, entry])) };
      peers.set(endpoint, peer);
    }
    return peer;
  }

  function changing(endpoint: RemoteId, peer: PeerRetiring): void {
    assert(inCrank, 'retiring refs change outside a crank');
    if (!crankStart.has(endpoint)) crankStart.set(endpoint, { length: peer.entries.length, head: peer.head });
    changed.add(endpoint);
  }

  /** Drops the live entries of `peer` up to index `end` (not included); returns their promises. */
  function dropUpTo(endpoint: RemoteId, peer: PeerRetiring, end: number): KPromiseRef[] {
    if (end <= peer.head) return [];
    changing(endpoint, peer);
    const dropped = peer.entries.slice(peer.head, end);
    for (const entry of dropped) peer.byEref.delete(entry.eref);
    peer.head = end;
    return dropped.map((entry) => entry.kpid);
  }

  tx.addWritesAtCommit({
    beginCrank() {
      assert(!inCrank && crankStart.size === 0, 'retiring refs: nested crank');
      inCrank = true;
    },
    endCrank() {
      inCrank = false;
      crankStart.clear();
    },
    abortCrank() {
      for (const [endpoint, start] of crankStart) {
        const peer = peers.get(endpoint);
        assert(peer !== undefined, 'retiring refs: a changed peer not in memory');
        for (const entry of peer.entries.slice(start.length)) peer.byEref.delete(entry.eref);
        peer.entries.length = start.length;
        for (const entry of peer.entries.slice(start.head, peer.head)) peer.byEref.set(entry.eref, entry);
        peer.head = start.head;
      }
      inCrank = false;
      crankStart.clear();
    },
    write() {
      for (const endpoint of changed) {
        const peer = peers.get(endpoint);
        assert(peer !== undefined, 'retiring refs: a changed peer not in memory');
        // Drops take a prefix in seq order, so the stored rows dropped are those up to the last one's seq.
        const storedDropped = Math.min(peer.head, peer.stored);
        const lastDropped = peer.entries[storedDropped - 1];
        if (lastDropped !== undefined) deleteThrough.run(endpoint, lastDropped.seq);
        for (let index = Math.max(peer.head, peer.stored); index < peer.entries.length; index += 1) {
          const entry = peer.entries[index] as RetiringRef;
          insert.run(endpoint, entry.eref, entry.kpid, entry.seq);
        }
      }
    },
    written() {
      assert(!inCrank, 'retiring refs: COMMIT inside a crank');
      for (const endpoint of changed) {
        const peer = peers.get(endpoint);
        assert(peer !== undefined, 'retiring refs: a changed peer not in memory');
        peer.entries = peer.entries.slice(peer.head);
        peer.head = 0;
        peer.stored = peer.entries.length;
      }
      changed.clear();
    },
    discard() {
      // SQLite is back at the last COMMIT: what memory held is read again.
      peers.clear();
      changed.clear();
      crankStart.clear();
      inCrank = false;
    },
    get changed() {
      return changed.size > 0;
    },
  });

  return {
    /** The peer's `eref` is retiring: it still names `kpid` in the peer's messages made before it consumed message `seq`, which notified it. */
    add(endpoint: RemoteId, eref: string, kpid: KPromiseRef, seq: number): void {
      const peer = peerOf(endpoint);
      // Dropped entries stay in the list until the COMMIT; a pair that started over numbers from 1 again.
      const last = peer.head < peer.entries.length ? peer.entries[peer.entries.length - 1] : undefined;
      assert(last === undefined || last.seq <= seq, `retiring ${eref} at seq ${seq}, after one at ${last?.seq}`);
      assert(!peer.byEref.has(eref), `${endpoint}'s ${eref} is retiring already`);
      changing(endpoint, peer);
      const entry = { eref, kpid, seq };
      peer.entries.push(entry);
      peer.byEref.set(eref, entry);
    },
    /** The promise a retiring ref of the peer names, if `eref` is one. */
    byEref(endpoint: RemoteId, eref: string): KPromiseRef | undefined {
      return peerOf(endpoint).byEref.get(eref)?.kpid;
    },
    /** The peer consumed every message up to `seq`: the refs those notified retire; returns their promises (the caller lets go of them). */
    takeThrough(endpoint: RemoteId, seq: number): KPromiseRef[] {
      const peer = peerOf(endpoint);
      let end = peer.head;
      while (end < peer.entries.length && (peer.entries[end] as RetiringRef).seq <= seq) end += 1;
      return dropUpTo(endpoint, peer, end);
    },
    /** Every retiring ref of the peer goes (the pair starts over); returns their promises. */
    takeAll(endpoint: RemoteId): KPromiseRef[] {
      const peer = peerOf(endpoint);
      return dropUpTo(endpoint, peer, peer.entries.length);
    },
    /** How many refs of the peer are retiring (tests, diagnostics). */
    count(endpoint: RemoteId): number {
      const peer = peerOf(endpoint);
      return peer.entries.length - peer.head;
    },
  };
}

export type RetiringRefStore = ReturnType<typeof makeRetiringRefStore>;
