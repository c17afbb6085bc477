import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import { bodyDigest, type PeerRecord } from './peers.js';

/** A row appended since the last COMMIT. */
interface AppendedRow {
  peerId: string;
  seq: number;
  frame: string;
  /** What the caller keeps with the row, for it to read back ({@link OutboxStore.lastAppended}); the store never looks inside. */
  kept: unknown;
  createdAt: number;
}

/** The most committed rows a peer's {@link CommittedRows} keeps: beyond, the oldest go (and are read from SQLite). */
const maxCachedRowsPerPeer = 1024;
/**
 * The most characters of frames kept over all peers (a row may be up to a
 * frame's cap, 1 MiB by default): beyond, the peer that appends drops its
 * oldest. Room for a window of ordinary rows to each of a few hundred peers.
 */
const maxCachedChars = 8 * 1024 * 1024;

/**
 * A peer's committed rows from `first` on, in seq order, with no gap: every
 * row SQLite holds for the peer with `seq >= first` is here, as of the last
 * COMMIT. Rows reach SQLite only through this store's COMMIT, which adds
 * them here as it writes them, so the range stays whole; rows before
 * `first` (from before this process, or dropped to keep the bound) are
 * read from SQLite.
 */
interface CommittedRows {
  first: number;
  frames: string[];
}

/**
 * The outbox: per peer, the messages this node committed to send, by
 * sequence number, each kept until the peer acks it. Rows are appended in
 * the crank that routes the send, read for transmission only once
 * committed, and deleted by the crank that applies the peer's ack.
 *
 * Appends and acks write at the COMMIT (as the pending tables do,
 * pendingTable.ts): appended rows wait in memory, in order, and each peer's
 * highest acked seq; the COMMIT deletes the acked rows and inserts the new
 * ones. A crank's abort undoes what it appended and acked. The transmitter
 * reads only committed rows, which are in SQLite (less those acked since),
 * and the newest of them also in memory until acked, where it reads them;
 * an ack covers only rows that were sent, so only committed ones.
 */
export function makeOutboxStore(db: SqliteDatabase, tx: TransactionControl, now: () => number) {
  const insert = db.prepare<[string, number, string, number]>('INSERT INTO outbox (peer_id, seq, frame, created_at) VALUES (?, ?, ?, ?)');
  const read = db.prepare<[string, number, number, number], { seq: number; frame: string }>(
    'SELECT seq, CAST(frame AS TEXT) AS frame FROM outbox WHERE peer_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
  );
  const deleteThrough = db.prepare<[string, number]>('DELETE FROM outbox WHERE peer_id = ? AND seq <= ?');
  const clear = tx.direct(db.prepare<[string]>('DELETE FROM outbox WHERE peer_id = ?'));
  const depthAfter = db.prepare<[string, number], { n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE peer_id = ? AND seq > ?');
  const oldestAfter = db.prepare<[string, number], { created_at: number }>('SELECT created_at FROM outbox WHERE peer_id = ? AND seq > ? ORDER BY seq LIMIT 1');
  // A store of schema v7 wrote each row's digest; rows are digested when asked now (a committed row's body never changes).
  const rowBody = db.prepare<[string, number], { frame: string; digest: string | null }>('SELECT CAST(frame AS TEXT) AS frame, digest FROM outbox WHERE peer_id = ? AND seq = ?');

  /** Rows appended since the last COMMIT, in order. */
  let appended: AppendedRow[] = [];
  /** Each peer's last row in `appended`: the router asks for it on every notify, and a scan of `appended` would grow with every other peer's rows. */
  const lastByPeer = new Map<string, AppendedRow>();
  const indexLastRows = () => {
    lastByPeer.clear();
    for (const row of appended) lastByPeer.set(row.peerId, row);
  };
  /** Per peer, the highest seq acked since the last COMMIT: rows up to it are gone, and the COMMIT deletes them. */
  const ackedThrough = new Map<string, number>();
  /**
   * Per peer, committed rows kept in memory until acked: the transmitter
   * reads a row right after the COMMIT that wrote it, and the ack's crank
   * its digest; both would otherwise read SQLite (outside a transaction,
   * the first one also takes and drops a WAL read lock).
   */
  const committed = new Map<string, CommittedRows>();
  /** Characters of every frame in `committed`. */
  let cachedChars = 0;
  const forget = (peerId: string) => {
    for (const frame of committed.get(peerId)?.frames ?? []) cachedChars -= frame.length;
    committed.delete(peerId);
  };
  const keepCommitted = (row: AppendedRow) => {
    let rows = committed.get(row.peerId);
    // A gap (none should come: a peer's rows are numbered in order) only starts the range again.
    if (rows === undefined || rows.first + rows.frames.length !== row.seq) {
      forget(row.peerId);
      rows = { first: row.seq, frames: [] };
      committed.set(row.peerId, rows);
    }
    rows.frames.push(row.frame);
    cachedChars += row.frame.length;
    while (rows.frames.length > maxCachedRowsPerPeer || (cachedChars > maxCachedChars && rows.frames.length > 0)) {
      cachedChars -= (rows.frames.shift() as string).length;
      rows.first += 1;
    }
    if (rows.frames.length === 0) committed.delete(row.peerId);
  };
  const forgetCommittedThrough = (peerId: string, seq: number) => {
    const rows = committed.get(peerId);
    if (rows === undefined || seq < rows.first) return;
    const gone = seq - rows.first + 1;
    if (gone >= rows.frames.length) forget(peerId);
    else {
      for (const frame of rows.frames.splice(0, gone)) cachedChars -= frame.length;
      rows.first = seq + 1;
    }
  };
  /** The committed frame of row `seq` from memory; undefined if the cache cannot tell (read SQLite). */
  const committedFrame = (peerId: string, seq: number): string | undefined => {
    const rows = committed.get(peerId);
    return rows === undefined || seq < rows.first ? undefined : rows.frames[seq - rows.first];
  };
  /**
   * Where `appended` stood when the open crank began, the whole list before
   * the crank's first clear (which filters it), each peer's acked seq before
   * the crank changed it, and the rows appended before the crank that it
   * rewrote, with what they held.
   */
  let atCrankStart:
    | { length: number; beforeClear: AppendedRow[] | undefined; acked: Map<string, number | undefined>; rewritten: Map<AppendedRow, { frame: string; kept: unknown }> }
    | undefined;
  const setAckedThrough = (peerId: string, seq: number | undefined) => {
    if (atCrankStart !== undefined && !atCrankStart.acked.has(peerId)) atCrankStart.acked.set(peerId, ackedThrough.get(peerId));
    if (seq === undefined) ackedThrough.delete(peerId);
    else ackedThrough.set(peerId, seq);
  };
  /** The rows of the peer from `seq` on that are still there: none up to what was acked since the COMMIT. */
  const stillFrom = (peerId: string, seq: number) => Math.max(seq, (ackedThrough.get(peerId) ?? 0) + 1);
  tx.addWritesAtCommit({
    get changed() {
      return appended.length > 0 || ackedThrough.size > 0;
    },
    beginCrank() {
      atCrankStart = { length: appended.length, beforeClear: undefined, acked: new Map(), rewritten: new Map() };
    },
    endCrank() {
      atCrankStart = undefined;
    },
    abortCrank() {
      assert(atCrankStart !== undefined, 'outbox: abort without a crank');
      for (const [row, before] of atCrankStart.rewritten) {
        row.frame = before.frame;
        row.kept = before.kept;
      }
      if (atCrankStart.beforeClear !== undefined) appended = atCrankStart.beforeClear;
      appended.length = atCrankStart.length;
      indexLastRows();
      for (const [peerId, seq] of atCrankStart.acked) {
        if (seq === undefined) ackedThrough.delete(peerId);
        else ackedThrough.set(peerId, seq);
      }
      atCrankStart = undefined;
    },
    write() {
      for (const [peerId, seq] of ackedThrough) deleteThrough.run(peerId, seq);
      for (const row of appended) insert.run(row.peerId, row.seq, row.frame, row.createdAt);
    },
    written() {
      for (const [peerId, seq] of ackedThrough) forgetCommittedThrough(peerId, seq);
      for (const row of appended) keepCommitted(row);
      appended = [];
      lastByPeer.clear();
      ackedThrough.clear();
    },
    discard() {
      appended = [];
      lastByPeer.clear();
      ackedThrough.clear();
      committed.clear();
      cachedChars = 0;
      atCrankStart = undefined;
    },
  });

  const pendingRow = (peerId: string, seq: number) => appended.find((row) => row.peerId === peerId && row.seq === seq);
  const digestOf = (peerId: string, seq: number): string | undefined => {
    if (seq < stillFrom(peerId, seq)) return undefined;
    const frame = committedFrame(peerId, seq);
    if (frame !== undefined) return bodyDigest(frame);
    const row = rowBody.get(peerId, seq);
    if (row !== undefined) return row.digest ?? bodyDigest(row.frame);
    const pending = pendingRow(peerId, seq);
    return pending === undefined ? undefined : bodyDigest(pending.frame);
  };

  return {
    /**
     * Appends a row, stamped with `now()`. Only metrics read the stamp (the
     * age of the oldest unacked row); nothing decides on it.
     */
    append(peerId: string, seq: number, bodyJson: string, kept?: unknown): void {
      const row = { peerId, seq, frame: bodyJson, kept, createdAt: now() };
      appended.push(row);
      lastByPeer.set(peerId, row);
    },
    /**
     * The peer's last row, if it was appended since the last COMMIT (so not
     * sent yet), with what the caller kept with it when it appended or last
     * rewrote it.
     */
    lastAppended(peerId: string): { seq: number; kept: unknown } | undefined {
      const row = lastByPeer.get(peerId);
      return row === undefined ? undefined : { seq: row.seq, kept: row.kept };
    },
    /**
     * Replaces the frame of the peer's last row, appended since the last
     * COMMIT (the caller adds to what it says). An abort of the crank puts
     * back what the row held when the crank began.
     */
    rewriteLast(peerId: string, seq: number, bodyJson: string, kept: unknown): void {
      const row = lastByPeer.get(peerId);
      assert(row?.seq === seq, `rewrite of peer ${peerId}'s row ${seq}, which is not its last one appended since the COMMIT`);
      // (A row appended in this crank goes with an abort anyway; putting its frame back as well does no harm.)
      if (atCrankStart !== undefined && !atCrankStart.rewritten.has(row)) atCrankStart.rewritten.set(row, { frame: row.frame, kept: row.kept });
      row.frame = bodyJson;
      row.kept = kept;
    },
    /** Committed rows with `from <= seq <= to`, at most `limit`, in order (none acked since). */
    read(peerId: string, from: number, to: number, limit: number): { seq: number; frame: string }[] {
      const start = stillFrom(peerId, from);
      const rows = committed.get(peerId);
      if (rows === undefined || start < rows.first) return read.all(peerId, start, to, limit);
      const last = Math.min(to, start + limit - 1, rows.first + rows.frames.length - 1);
      const found: { seq: number; frame: string }[] = [];
      for (let seq = start; seq <= last; seq += 1) found.push({ seq, frame: rows.frames[seq - rows.first] as string });
      return found;
    },
    /**
     * Deletes the rows up to `seq` (acked); returns the digest of row `seq`
     * (null if it was not there), which the peer's row keeps: rollback
     * detection compares it once the row is gone.
     */
    deleteUpTo(peerId: string, seq: number): string | null {
      // Acks name what was sent, and only committed rows are sent (a peer's rows are appended in seq order: its first pending one is its lowest).
      const firstPending = appended.find((row) => row.peerId === peerId);
      assert(firstPending === undefined || firstPending.seq > seq, `ack of peer ${peerId}'s row ${seq}, which is not committed`);
      const digest = digestOf(peerId, seq) ?? null;
      // Deleted at the COMMIT, with what else it writes: an ack alone opens no transaction.
      if (seq > (ackedThrough.get(peerId) ?? 0)) setAckedThrough(peerId, seq);
      return digest;
    },
    /** Every row of the peer goes (its pair started over). */
    clear(peerId: string): void {
      clear.run(peerId);
      // An abort of the crank brings the rows back in SQLite: they are read from there until rows are committed again.
      forget(peerId);
      if (ackedThrough.has(peerId)) setAckedThrough(peerId, undefined);
      if (!appended.some((row) => row.peerId === peerId)) return;
      if (atCrankStart !== undefined) atCrankStart.beforeClear ??= appended;
      appended = appended.filter((row) => row.peerId !== peerId);
      lastByPeer.delete(peerId);
    },
    /** Rows not acked yet, committed or not. */
    depth(peerId: string): number {
      return (depthAfter.get(peerId, stillFrom(peerId, 1) - 1)?.n ?? 0) + appended.filter((row) => row.peerId === peerId).length;
    },
    /** When the oldest row still there (the first unacked) was written, epoch ms; undefined if empty. */
    oldestWrittenAt(peerId: string): number | undefined {
      return oldestAfter.get(peerId, stillFrom(peerId, 1) - 1)?.created_at ?? appended.find((row) => row.peerId === peerId)?.createdAt;
    },
    /** The digest of this node's message #seq to the peer, while its row is there, or if it is the last one acked; undefined if unknown. */
    sentDigest(peer: PeerRecord, seq: number): string | undefined {
      if (seq === peer.ackedSeq) return peer.ackedDigest ?? undefined;
      return digestOf(peer.peerId, seq);
    },
  };
}

export type OutboxStore = ReturnType<typeof makeOutboxStore>;
