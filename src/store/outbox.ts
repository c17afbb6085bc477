import type { SqliteDatabase, TransactionControl } from './db.js';
import { bodyDigest, type PeerRecord } from './peers.js';

/**
 * The outbox: per peer, the messages this node committed to send, by
 * sequence number, each kept until the peer acks it. Rows are written in
 * the crank that routes the send, read for transmission only once
 * committed, and deleted by the crank that applies the peer's ack.
 */
export function makeOutboxStore(db: SqliteDatabase, tx: TransactionControl, now: () => number) {
  const append = tx.direct(db.prepare<[string, number, string, number]>('INSERT INTO outbox (peer_id, seq, frame, created_at) VALUES (?, ?, ?, ?)'));
  const read = db.prepare<[string, number, number, number], { seq: number; frame: string }>(
    'SELECT seq, CAST(frame AS TEXT) AS frame FROM outbox WHERE peer_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
  );
  const deleteUpTo = tx.direct(db.prepare<[string, number]>('DELETE FROM outbox WHERE peer_id = ? AND seq <= ?'));
  const clear = tx.direct(db.prepare<[string]>('DELETE FROM outbox WHERE peer_id = ?'));
  const depth = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE peer_id = ?');
  const oldest = db.prepare<[string], { created_at: number }>('SELECT created_at FROM outbox WHERE peer_id = ? ORDER BY seq LIMIT 1');
  // A store of schema v7 wrote each row's digest; rows are digested when asked now (a row's body never changes).
  const rowBody = db.prepare<[string, number], { frame: string; digest: string | null }>('SELECT CAST(frame AS TEXT) AS frame, digest FROM outbox WHERE peer_id = ? AND seq = ?');
  const digestOf = (peerId: string, seq: number): string | undefined => {
    const row = rowBody.get(peerId, seq);
    return row === undefined ? undefined : (row.digest ?? bodyDigest(row.frame));
  };

  return {
    /**
     * Appends a row, stamped with `now()`. Only metrics read the stamp (the
     * age of the oldest unacked row); nothing decides on it.
     */
    append(peerId: string, seq: number, bodyJson: string): void {
      append.run(peerId, seq, bodyJson, now());
    },
    /** Rows with `from <= seq <= to`, at most `limit`, in order. */
    read(peerId: string, from: number, to: number, limit: number): { seq: number; frame: string }[] {
      return read.all(peerId, from, to, limit);
    },
    /**
     * Deletes the rows up to `seq` (acked); returns the digest of row `seq`
     * (null if it was not there), which the peer's row keeps: rollback
     * detection compares it once the row is gone.
     */
    deleteUpTo(peerId: string, seq: number): string | null {
      const digest = digestOf(peerId, seq) ?? null;
      deleteUpTo.run(peerId, seq);
      return digest;
    },
    /** Every row of the peer goes (its pair started over). */
    clear(peerId: string): void {
      clear.run(peerId);
    },
    depth(peerId: string): number {
      return depth.get(peerId)?.n ?? 0;
    },
    /** When the oldest row still there (the first unacked) was written, epoch ms; undefined if empty. */
    oldestWrittenAt(peerId: string): number | undefined {
      return oldest.get(peerId)?.created_at;
    },
    /** The digest of this node's message #seq to the peer, while its row is there, or if it is the last one acked; undefined if unknown. */
    sentDigest(peer: PeerRecord, seq: number): string | undefined {
      if (seq === peer.ackedSeq) return peer.ackedDigest ?? undefined;
      return digestOf(peer.peerId, seq);
    },
  };
}

export type OutboxStore = ReturnType<typeof makeOutboxStore>;
