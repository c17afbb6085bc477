import { createHash } from 'node:crypto';
import { assert } from '../util/assert.js';
import type { SqliteDatabase } from './db.js';
import type { OutboxStore } from './outbox.js';
import type { RowCache } from './rowCache.js';
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
});

/** The digest of a message body as both sides of a pair compute it: SHA-256 of its JSON, the first 16 bytes, hex. */
export function bodyDigest(bodyJson: string): string {
  return createHash('sha256').update(bodyJson, 'utf8').digest('hex').slice(0, 32);
}

/**
 * Remote peers (their endpoint and the pair's sequence state) and issued
 * ocap URLs; their outboxes are `outbox.ts`'s. Records are cached by peer
 * id (`cache`, write-through: the writes of every message, its received
 * and acked sequence numbers and its send number, update the cached
 * record; rarer writes forget it) and peer ids by endpoint (which never
 * changes while the row lives). A write to the table from elsewhere (the
 * outbox keeps the acked digest there) must forget the peer's record.
 */
export function makePeerStore(
  db: SqliteDatabase,
  allocate: () => number,
  outbox: OutboxStore,
  cache: RowCache<string, PeerRecord>,
  peerIdsByEndpoint: RowCache<RemoteId, string>,
) {
  const insert = db.prepare<[string, string]>('INSERT INTO peers (peer_id, endpoint) VALUES (?, ?)');
  const byPeer = db.prepare<[string], Row>('SELECT * FROM peers WHERE peer_id = ?');
  const byEndpoint = db.prepare<[string], Row>('SELECT * FROM peers WHERE endpoint = ?');
  const all = db.prepare<[], Row>('SELECT * FROM peers ORDER BY CAST(SUBSTR(endpoint, 2) AS INTEGER)');
  const takeSeq = db.prepare<[string], { seq: number }>(
    'UPDATE peers SET next_send_seq = next_send_seq + 1 WHERE peer_id = ? RETURNING next_send_seq - 1 AS seq',
  );
  const setReceived = db.prepare<[number, string, string]>('UPDATE peers SET received_seq = ?, received_digest = ? WHERE peer_id = ?');
  const setAcked = db.prepare<[number, string]>('UPDATE peers SET acked_seq = MAX(acked_seq, ?) WHERE peer_id = ?');
  const setAddresses = db.prepare<[string, string]>('UPDATE peers SET addresses = ? WHERE peer_id = ?');
  const setIncarnation = db.prepare<[string, string]>('UPDATE peers SET incarnation = ? WHERE peer_id = ?');
  const resetSequences = db.prepare<[string]>(
    'UPDATE peers SET next_send_seq = 1, acked_seq = 0, received_seq = 0, received_digest = NULL, acked_digest = NULL WHERE peer_id = ?',
  );
  const setLocalIncarnation = db.prepare<[string | null, string | null, string]>('UPDATE peers SET local_incarnation = ?, started_over = ? WHERE peer_id = ?');
  const clearStartedOver = db.prepare<[string]>('UPDATE peers SET started_over = NULL WHERE peer_id = ?');
  const setForgotten = db.prepare<[string, string]>('UPDATE peers SET forgotten_reason = ? WHERE peer_id = ?');
  // Peers that never shared anything with this node: no message either way, no c-list entry.
  const idle = db.prepare<[], { peer_id: string }>(
    `SELECT peer_id FROM peers
     WHERE next_send_seq = 1 AND received_seq = 0 AND forgotten_reason IS NULL
       AND NOT EXISTS (SELECT 1 FROM clist WHERE clist.endpoint = peers.endpoint)
     ORDER BY CAST(SUBSTR(endpoint, 2) AS INTEGER)`,
  );
  const deletePeer = db.prepare<[string]>('DELETE FROM peers WHERE peer_id = ?');
  const nextObject = db.prepare<[string], { n: number }>(
    'UPDATE peers SET next_object_id = next_object_id + 1 WHERE endpoint = ? RETURNING next_object_id - 1 AS n',
  );
  const nextPromise = db.prepare<[string], { n: number }>(
    'UPDATE peers SET next_promise_id = next_promise_id + 1 WHERE endpoint = ? RETURNING next_promise_id - 1 AS n',
  );
  // By digest, never by the swiss number itself: a lookup's timing depends
  // only on how the digest of a guess compares with stored digests.
  const insertUrl = db.prepare<[string, string, number | null]>('INSERT INTO ocap_urls (swiss_sha256, kref, expires_at) VALUES (sha256(?), ?, ?)');
  const selectUrl = db.prepare<[string], { kref: string; expires_at: number | null; revoked_reason: string | null }>(
    'SELECT kref, expires_at, revoked_reason FROM ocap_urls WHERE swiss_sha256 = sha256(?)',
  );
  const revokeUrl = db.prepare<[string, string]>('UPDATE ocap_urls SET revoked_reason = ? WHERE swiss_sha256 = sha256(?) AND revoked_reason IS NULL');

  function get(peerId: string): PeerRecord | undefined {
    return cache.get(peerId, () => {
      const row = byPeer.get(peerId);
      return row && toRecord(row);
    });
  }

  /** The cached record of `peerId`, if there is one, as `change` makes it: after a write that changed exactly that. */
  function updateCached(peerId: string, change: (record: PeerRecord) => Partial<PeerRecord>): void {
    const cached = cache.peek(peerId);
    if (cached !== undefined) cache.set(peerId, { ...cached, ...change(cached) });
  }

  return {
    get,
    byEndpoint(endpoint: RemoteId): PeerRecord | undefined {
      const peerId = peerIdsByEndpoint.get(endpoint, () => byEndpoint.get(endpoint)?.peer_id);
      return peerId === undefined ? undefined : get(peerId);
    },
    all(): PeerRecord[] {
      return all.all().map(toRecord);
    },
    /** The peer's record, creating it (and its endpoint `rN`) the first time. */
    ensure(peerId: string): PeerRecord {
      const existing = get(peerId);
      if (existing !== undefined) return existing;
      const endpoint: RemoteId = `r${allocate()}`;
      insert.run(peerId, endpoint);
      cache.forget(peerId);
      peerIdsByEndpoint.forget(endpoint);
      const created = get(peerId);
      assert(created !== undefined, 'peer insert');
      return created;
    },
    /** Takes the next send sequence number of the pair. */
    takeSendSeq(peerId: string): number {
      const row = takeSeq.get(peerId);
      assert(row !== undefined, `takeSendSeq of unknown peer ${peerId}`);
      updateCached(peerId, () => ({ nextSendSeq: row.seq + 1 }));
      return row.seq;
    },
    /** The last message consumed from the peer: its seq and its body's digest ({@link bodyDigest}). */
    setReceived(peerId: string, seq: number, digest: string): void {
      setReceived.run(seq, digest, peerId);
      updateCached(peerId, () => ({ receivedSeq: seq, receivedDigest: digest }));
    },
    setAckedSeq(peerId: string, seq: number): void {
      setAcked.run(seq, peerId);
      updateCached(peerId, (record) => ({ ackedSeq: Math.max(record.ackedSeq, seq) }));
    },
    /** Adds `addresses` to those known for the peer (most recent first, no duplicates). */
    addAddresses(peerId: string, addresses: string[]): void {
      const known = get(peerId)?.addresses ?? [];
      const merged = [...new Set([...addresses, ...known])].slice(0, 16);
      setAddresses.run(JSON.stringify(merged), peerId);
      cache.forget(peerId);
    },
    setIncarnation(peerId: string, incarnation: string): void {
      setIncarnation.run(incarnation, peerId);
      cache.forget(peerId);
    },
    /** Peer amnesia: the pair starts over, and what was queued for the old incarnation is dropped. */
    resetSequences(peerId: string): void {
      resetSequences.run(peerId);
      cache.forget(peerId);
      outbox.clear(peerId);
    },
    /**
     * The pair starts over: this node presents `incarnation` to the peer
     * from now on (null: the store's), and tells it `startedOver` until it
     * names it.
     */
    startOver(peerId: string, incarnation: string | null, startedOver: StartedOver | null): void {
      setLocalIncarnation.run(incarnation, startedOver === null ? null : JSON.stringify(startedOver), peerId);
      cache.forget(peerId);
    },
    /** The peer named this node's new incarnation: it knows the pair started over. */
    clearStartedOver(peerId: string): void {
      clearStartedOver.run(peerId);
      cache.forget(peerId);
    },
    /** The operator forgot the peer: its row stays, with the reason, so that nothing is exchanged with it again. */
    markForgotten(peerId: string, reason: string): void {
      setForgotten.run(reason, peerId);
      cache.forget(peerId);
    },
    /**
     * Deletes the oldest rows of peers that never shared anything with this
     * node (every peer id that says hello gets one), beyond the newest
     * `keep`; returns their peer ids. Nothing is lost with them: such a
     * peer's next hello starts it afresh.
     */
    pruneIdle(keep: number): string[] {
      const rows = idle.all();
      const pruned = rows.slice(0, Math.max(0, rows.length - keep)).map((row) => row.peer_id);
      for (const peerId of pruned) {
        const endpoint = get(peerId)?.endpoint;
        deletePeer.run(peerId);
        cache.forget(peerId);
        if (endpoint !== undefined) peerIdsByEndpoint.forget(endpoint);
      }
      return pruned;
    },
    /** Next ref number this node allocates in the peer's c-list (`o+N` / `p+N`). */
    allocateRefNumber(endpoint: RemoteId, kind: 'object' | 'promise'): number {
      const row = (kind === 'object' ? nextObject : nextPromise).get(endpoint);
      assert(row !== undefined, `allocate on unknown ${endpoint}`);
      return row.n;
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
