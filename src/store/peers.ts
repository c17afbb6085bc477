import { createHash } from 'node:crypto';
import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { OutboxStore } from './outbox.js';
import type { RemoteId } from './types.js';

/** What a pair that started over after this node's rollback lost on each side (sequence ranges, first and last). */
export interface StartedOver {
  forgottenSends: [number, number] | null;
  lostReceives: [number, number] | null;
}

export interface PeerRecord {
  peerId: string;
  endpoint: RemoteId;
  /** The incarnation the peer last announced; null before its first hello. */
  incarnation: string | null;
  nextSendSeq: number;
  ackedSeq: number;
  receivedSeq: number;
  /** Multiaddrs the peer can be dialled at, as learned from ocap URLs and its hellos. */
  addresses: string[];
  /** Why the operator forgot the peer (`ken-node peers --forget`); null for a peer not forgotten. */
  forgotten: string | null;
  /** The incarnation this node presents to the peer if not the store's (the pair started over after a rollback); null: the store's. */
  localIncarnation: string | null;
  /** Set from the start over until the peer names `localIncarnation`: told to it in hellos. */
  startedOver: StartedOver | null;
  /** Digest of the body of the last message consumed from the peer (#receivedSeq); null before one. */
  receivedDigest: string | null;
  /** Digest of the body of this node's message #ackedSeq, kept once its row is deleted; null before one. */
  ackedDigest: string | null;
  /** How many times the pair's sequences started over ({@link resetSequences}): frames of an older pair may still be read. */
  startOvers: number;
}

interface Row {
  peer_id: string;
  endpoint: RemoteId;
  incarnation: string | null;
  next_send_seq: number;
  acked_seq: number;
  received_seq: number;
  addresses: string;
  forgotten_reason: string | null;
  local_incarnation: string | null;
  started_over: string | null;
  received_digest: string | null;
  acked_digest: string | null;
  start_overs: number;
}

// Frozen all through: the record may be a cached one, shared by every reader.
const toRecord = (row: Row): PeerRecord => ({
  peerId: row.peer_id,
  endpoint: row.endpoint,
  incarnation: row.incarnation,
  nextSendSeq: row.next_send_seq,
  ackedSeq: row.acked_seq,
  receivedSeq: row.received_seq,
  addresses: Object.freeze(JSON.parse(row.addresses) as string[]) as string[],
  forgotten: row.forgotten_reason,
  localIncarnation: row.local_incarnation,
  startedOver: row.started_over === null ? null : Object.freeze(JSON.parse(row.started_over) as StartedOver),
  receivedDigest: row.received_digest,
  ackedDigest: row.acked_digest,
  startOvers: row.start_overs,
});

/** The digest of a message body as both sides of a pair compute it: SHA-256 of its JSON, the first 16 bytes, hex. */
export function bodyDigest(bodyJson: string): string {
  return createHash('sha256').update(bodyJson, 'utf8').digest('hex').slice(0, 32);
}

/** A peer's row as the store keeps it: the record, and the numbers this node allocates in the peer's c-list. */
interface PeerRow extends PeerRecord {
  nextObjectId: number;
  nextPromiseId: number;
}

const toRow = (row: Row & { next_object_id: number; next_promise_id: number }): PeerRow => ({
  ...toRecord(row),
  nextObjectId: row.next_object_id,
  nextPromiseId: row.next_promise_id,
});

/** The endpoint's number, by which peers are listed (`r2` before `r10`). */
const endpointNumber = (endpoint: RemoteId) => Number(endpoint.slice(1));

/**
 * Remote peers (their endpoint and the pair's sequence state) and issued
 * ocap URLs; their outboxes are `outbox.ts`'s. Rows write at the COMMIT
 * (pendingTable.ts): every message changes the pair's send, received or
 * acked number. A new peer's row is inserted at once, as it is made (an
 * outbox row may name it in the same crank), and written again at the
 * COMMIT with what changed since. Peer ids by endpoint are cached (an
 * endpoint never changes while its row lives). `hasCListEntries` says
 * whether an endpoint's c-list holds anything (for pruning idle peers).
 */
export function makePeerStore(
  db: SqliteDatabase,
  allocate: () => number,
  outbox: OutboxStore,
  tx: TransactionControl,
  hasCListEntries: (endpoint: RemoteId) => boolean,
) {
  const peerIdsByEndpoint = tx.newCache<RemoteId, string>();
  const insert = tx.direct(db.prepare<[string, string]>('INSERT INTO peers (peer_id, endpoint) VALUES (?, ?)'));
  const byPeer = db.prepare<[string], Row & { next_object_id: number; next_promise_id: number }>('SELECT * FROM peers WHERE peer_id = ?');
  const byEndpoint = db.prepare<[string], { peer_id: string }>('SELECT peer_id FROM peers WHERE endpoint = ?');
  const allIds = db.prepare<[], { peer_id: string }>('SELECT peer_id FROM peers');
  const update = db.prepare<[string | null, number, number, number, string, string | null, string | null, string | null, string | null, string | null, number, number, number, string]>(
    `UPDATE peers SET incarnation = ?, next_send_seq = ?, acked_seq = ?, received_seq = ?, addresses = ?, forgotten_reason = ?,
       local_incarnation = ?, started_over = ?, received_digest = ?, acked_digest = ?, start_overs = ?, next_object_id = ?, next_promise_id = ?
     WHERE peer_id = ?`,
  );
  const deletePeer = tx.direct(db.prepare<[string]>('DELETE FROM peers WHERE peer_id = ?'));
  // By digest, never by the swiss number itself: a lookup's timing depends
  // only on how the digest of a guess compares with stored digests.
  const insertUrl = tx.direct(db.prepare<[string, string, number | null]>('INSERT INTO ocap_urls (swiss_sha256, kref, expires_at) VALUES (sha256(?), ?, ?)'));
  const selectUrl = db.prepare<[string], { kref: string; expires_at: number | null; revoked_reason: string | null }>(
    'SELECT kref, expires_at, revoked_reason FROM ocap_urls WHERE swiss_sha256 = sha256(?)',
  );
  const revokeUrl = tx.direct(db.prepare<[string, string]>('UPDATE ocap_urls SET revoked_reason = ? WHERE swiss_sha256 = sha256(?) AND revoked_reason IS NULL'));

  const rows = tx.newPendingTable<string, PeerRow>(
    (peerId) => {
      const row = byPeer.get(peerId);
      return row && toRow(row);
    },
    (changed) => {
      for (const [peerId, { value: peer }] of changed) {
        // A pruned peer's row went at once (pruneIdle).
        if (peer === undefined) continue;
        const { changes } = update.run(
          peer.incarnation,
          peer.nextSendSeq,
          peer.ackedSeq,
          peer.receivedSeq,
          JSON.stringify(peer.addresses),
          peer.forgotten,
          peer.localIncarnation,
          peer.startedOver === null ? null : JSON.stringify(peer.startedOver),
          peer.receivedDigest,
          peer.ackedDigest,
          peer.startOvers,
          peer.nextObjectId,
          peer.nextPromiseId,
          peerId,
        );
        assert(changes === 1, `write of peer ${peerId}, which SQLite does not hold`);
      }
    },
  );

  function get(peerId: string): PeerRow | undefined {
    return rows.get(peerId);
  }

  /** Changes the row of `peerId`, which must be there. */
  function change(peerId: string, what: string, make: (peer: PeerRow) => Partial<PeerRow>): void {
    const peer = rows.get(peerId);
    assert(peer !== undefined, `${what} of unknown peer ${peerId}`);
    rows.set(peerId, { ...peer, ...make(peer) });
  }

  /**
   * The ids of every peer with a row (read once, then kept as rows are made
   * and pruned; read again after an undo, which may have taken either back):
   * the sessions read every peer's row at every COMMIT.
   */
  let peerIds: Set<string> | undefined;
  tx.onUndo(() => {
    peerIds = undefined;
  });
  const knownPeerIds = () => (peerIds ??= new Set(allIds.all().map((row) => row.peer_id)));

  /** Every peer's row, in endpoint order, as the open transaction has them. */
  function allRows(): PeerRow[] {
    const result: PeerRow[] = [];
    for (const peerId of knownPeerIds()) {
      const peer = get(peerId);
      if (peer !== undefined) result.push(peer);
    }
    return result.sort((a, b) => endpointNumber(a.endpoint) - endpointNumber(b.endpoint));
  }

  return {
    get,
    byEndpoint(endpoint: RemoteId): PeerRecord | undefined {
      const peerId = peerIdsByEndpoint.get(endpoint, () => byEndpoint.get(endpoint)?.peer_id);
      return peerId === undefined ? undefined : get(peerId);
    },
    all(): PeerRecord[] {
      return allRows();
    },
    /** The peer's record, creating it (and its endpoint `rN`) the first time. */
    ensure(peerId: string): PeerRecord {
      const existing = get(peerId);
      if (existing !== undefined) return existing;
      const endpoint: RemoteId = `r${allocate()}`;
      // At once, in the crank: an outbox row written in it may name the peer.
      insert.run(peerId, endpoint);
      knownPeerIds().add(peerId);
      peerIdsByEndpoint.forget(endpoint);
      const created: PeerRow = {
        peerId,
        endpoint,
        incarnation: null,
        nextSendSeq: 1,
        ackedSeq: 0,
        receivedSeq: 0,
        addresses: [],
        forgotten: null,
        localIncarnation: null,
        startedOver: null,
        receivedDigest: null,
        ackedDigest: null,
        startOvers: 0,
        nextObjectId: 1,
        nextPromiseId: 1,
      };
      rows.set(peerId, created, true);
      return created;
    },
    /** Takes the next send sequence number of the pair. */
    takeSendSeq(peerId: string): number {
      let seq = 0;
      change(peerId, 'takeSendSeq', (peer) => {
        seq = peer.nextSendSeq;
        return { nextSendSeq: seq + 1 };
      });
      return seq;
    },
    /** The last message consumed from the peer: its seq, and its body's digest ({@link bodyDigest}) or null until {@link setReceivedDigest} says it, in the same crank. */
    setReceived(peerId: string, seq: number, digest: string | null): void {
      change(peerId, 'setReceived', () => ({ receivedSeq: seq, receivedDigest: digest }));
    },
    setReceivedDigest(peerId: string, digest: string): void {
      change(peerId, 'setReceivedDigest', () => ({ receivedDigest: digest }));
    },
    /** The peer acked up to `seq`, whose body had `digest` (kept: rollback detection compares it once the row is gone). */
    setAcked(peerId: string, seq: number, digest: string | null): void {
      change(peerId, 'setAcked', (peer) => (seq > peer.ackedSeq ? { ackedSeq: seq, ackedDigest: digest } : {}));
    },
    /** Adds `addresses` to those known for the peer (most recent first, no duplicates). */
    addAddresses(peerId: string, addresses: string[]): void {
      change(peerId, 'addAddresses', (peer) => ({ addresses: Object.freeze([...new Set([...addresses, ...peer.addresses])].slice(0, 16)) as string[] }));
    },
    setIncarnation(peerId: string, incarnation: string): void {
      change(peerId, 'setIncarnation', () => ({ incarnation }));
    },
    /** The pair starts over (amnesia, rollback, restore, forgetting): what was queued for the old one is dropped, and the start-over counted. */
    resetSequences(peerId: string): void {
      change(peerId, 'resetSequences', (peer) => ({ nextSendSeq: 1, ackedSeq: 0, receivedSeq: 0, receivedDigest: null, ackedDigest: null, startOvers: peer.startOvers + 1 }));
      outbox.clear(peerId);
    },
    /**
     * The pair starts over: this node presents `incarnation` to the peer
     * from now on (null: the store's), and tells it `startedOver` until it
     * names it.
     */
    startOver(peerId: string, incarnation: string | null, startedOver: StartedOver | null): void {
      change(peerId, 'startOver', () => ({ localIncarnation: incarnation, startedOver: startedOver === null ? null : Object.freeze({ ...startedOver }) }));
    },
    /** The peer named this node's new incarnation: it knows the pair started over. */
    clearStartedOver(peerId: string): void {
      change(peerId, 'clearStartedOver', () => ({ startedOver: null }));
    },
    /** The operator forgot the peer: its row stays, with the reason, so that nothing is exchanged with it again. */
    markForgotten(peerId: string, reason: string): void {
      change(peerId, 'markForgotten', () => ({ forgotten: reason }));
    },
    /**
     * Deletes the oldest rows of peers that never shared anything with this
     * node (every peer id that says hello gets one: no message either way,
     * no c-list entry), beyond the newest `keep`; returns their peer ids.
     * Nothing is lost with them: such a peer's next hello starts it afresh.
     */
    pruneIdle(keep: number): string[] {
      const idle = allRows().filter((peer) => peer.nextSendSeq === 1 && peer.receivedSeq === 0 && peer.forgotten === null && !hasCListEntries(peer.endpoint));
      const pruned = idle.slice(0, Math.max(0, idle.length - keep));
      for (const { peerId, endpoint } of pruned) {
        // At once, as a new peer's row is inserted: the peer may say hello again in this group.
        deletePeer.run(peerId);
        knownPeerIds().delete(peerId);
        rows.set(peerId, undefined);
        peerIdsByEndpoint.forget(endpoint);
      }
      return pruned.map((peer) => peer.peerId);
    },
    /** Next ref number this node allocates in the peer's c-list (`o+N` / `p+N`). */
    allocateRefNumber(endpoint: RemoteId, kind: 'object' | 'promise'): number {
      const peerId = peerIdsByEndpoint.get(endpoint, () => byEndpoint.get(endpoint)?.peer_id);
      assert(peerId !== undefined, `allocate on unknown ${endpoint}`);
      let number = 0;
      change(peerId, 'allocateRefNumber', (peer) => {
        number = kind === 'object' ? peer.nextObjectId : peer.nextPromiseId;
        return kind === 'object' ? { nextObjectId: number + 1 } : { nextPromiseId: number + 1 };
      });
      return number;
    },
    /** Records an issued swiss number (as its digest), the kref it names, and when it expires (epoch ms; null: never). */
    recordUrl(swiss: string, kref: string, expiresAtMs: number | null = null): void {
      insertUrl.run(swiss, kref, expiresAtMs);
    },
    /** What an issued swiss number grants; undefined for one never issued. */
    lookupUrl(swiss: string): UrlGrant | undefined {
      const row = selectUrl.get(swiss);
      return row && { kref: row.kref, expiresAtMs: row.expires_at, revoked: row.revoked_reason };
    },
    /** Marks an issued swiss number revoked, with the reason; false if it was revoked already. */
    revokeUrl(swiss: string, reason: string): boolean {
      return revokeUrl.run(reason, swiss).changes === 1;
    },
  };
}

export type PeerStore = ReturnType<typeof makePeerStore>;

/** What an issued ocap URL names, until when, and whether it was revoked (and why). */
export interface UrlGrant {
  kref: string;
  expiresAtMs: number | null;
  revoked: string | null;
}
