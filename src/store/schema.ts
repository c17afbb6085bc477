/**
 * The store's schema, in one place, with its version. Persisted formats are
 * forever: a change to a table is a new entry in {@link migrations}, never an
 * edit of an old one.
 *
 * Tables (all owned by the kernel's single writer):
 * - `kernel_meta`: counters (`ko`, `kp`, `vat` ids) and the store's incarnation.
 * - `bundles`: vat source bundles by content hash, so a vat restarts from the
 *   exact code it was created with.
 * - `vats`: one row per vat: its bundle, parameters, and whether it is live.
 * - `kernel_objects`: `koN` with owner endpoint (NULL once lost) and the two
 *   reference counts that drive GC (reachable <= recognizable).
 * - `kernel_promises`: `kpN` with state, decider, resolution and refcount.
 * - `promise_subscribers`, `promise_queue`: who to notify (a column of
 *   `kernel_promises` from v12), and messages sent to a promise before it
 *   resolved.
 * - `clist`: per endpoint, kref <-> endpoint ref, with the reachable flag of
 *   an import.
 * - `run_queue`: sends and notifications waiting for a crank.
 * - `gc_actions`: dropExports / retireExports / retireImports waiting for a
 *   crank; they run before the run queue.
 * - `vatstore`: each vat's ordered key-value store (liveslots' vatstore).
 * - `peers`: per remote peer, its endpoint id (`rN`), the incarnation it
 *   last announced, and the pair's sequence state: `next_send_seq`,
 *   `acked_seq` (highest it acked), `received_seq` (highest we consumed).
 * - `outbox`: message bodies to a peer, by sequence number, until acked.
 * - `ocap_urls` (v2): swiss numbers this node issued, and what they name.
 * - `peers.addresses` (v3): multiaddrs a peer can be dialled at.
 * - `outbox.created_at` (v4): when the row was written (epoch ms), for the
 *   age of the oldest unacked row in metrics; nothing decides on it.
 * - `ocap_urls.swiss_sha256` (v5): issued swiss numbers are kept, and looked
 *   up, by their SHA-256 (the `sha256` SQL function of `db.ts`), not as
 *   text: how long a lookup takes then depends on the digest of a guess,
 *   which tells a guesser nothing about any swiss number; and the store no
 *   longer holds the secrets themselves.
 * - `vats.state` (v6): `failed` besides `live` and `terminated` (a vat
 *   stopped by a fault of its own keeps its state and is retried at the
 *   next start); `terminated_reason` becomes `state_reason`, the reason of
 *   either.
 * - `peers.forgotten_reason` (v7): set when the operator forgot the peer
 *   (`ken-node peers --forget`): the row stays, as a tombstone, so that the
 *   peer's frames are refused and nothing is sent to it again.
 * - `peers.local_incarnation` (v7): the incarnation this node presents to
 *   the peer, when it is not the store's: a pair whose state this node
 *   found rolled back (its store restored from an older copy) starts over
 *   under a new one, which the peer treats as this node's amnesia;
 *   `peers.started_over` (JSON) says what each side lost, for the hellos
 *   that tell the peer, until the peer names the new incarnation.
 * - `outbox.digest`, `peers.acked_digest`, `peers.received_digest` (v7):
 *   the digest of each message body sent (of the last one acked, once its
 *   row is gone) and of the last one consumed: a rolled-back sender that
 *   sent again under numbers its peer consumed is found by them
 *   (`remote/rollback.ts`).
 * - `vats.runtime` (v8): what runs the vat's code, `liveslots` (every vat
 *   made before) or `lean` (src/vats/lean). From v8 on the kernel counts
 *   deliveries since a vat's last reap in memory (a restart gives the vat
 *   a fresh heap, so a count from before it means nothing): the column
 *   `vats.deliveries_since_reap` is no longer written.
 * - `vat_ops` (v9): vat operations asked for (create, upgrade, terminate:
 *   by the operator or the vat-admin service), each committed before it
 *   runs and deleted by the crank that carries it out, so that a crash at
 *   any point leaves it done once or still to do (`kernel/vatOps.ts`).
 * - `timers` (v9): the timer service's wake-ups (`kernel/timerService.ts`):
 *   when each is due (epoch ms), and what it settles (a `delay`'s result
 *   promise) or wakes (a handler object; a repeating one has an interval).
 * - `ocap_urls.expires_at`, `ocap_urls.revoked_reason` (v9): a URL may be
 *   issued to expire, and revoked; either refuses its redemption.
 * - `redeemed_urls` (v9): ocap URLs of other nodes that `ken-node send`
 *   redeemed, by the SHA-256 of their swiss number and peer id, and the
 *   presence each gave, so that a URL is redeemed once.
 * - `peers.start_overs` (v10): how many times the pair's sequences started
 *   over (the peer's amnesia, a rollback of either side, a restore, the
 *   operator forgetting the peer). Once a pair has started over, an ack
 *   beyond what was sent may be a frame of the old pair read late, not a
 *   peer's error; and a frame screened under one count and consumed under
 *   another is the old pair's (`remote/receiveRule.ts`).
 * - `clist_retiring` (v11): a peer's refs to promises this node decided and
 *   notified it of, out of the c-list (a new naming of the promise gets a
 *   new ref), kept for translating the peer's messages made before it
 *   consumed the notify (`seq`), until one of its messages says it had
 *   (`store/retiringRefs.ts`; docs/protocol.md, "Promise retirement").
 * - `kernel_promises.subscribers` (v12): a promise's subscribers, a JSON
 *   list of endpoints in endpoint order (NULL: none), in its row, in place
 *   of the `promise_subscribers` table: written with the row, not as rows
 *   of their own (`store/promises.ts`).
 */
export const schemaVersion = 12;

/** Each entry moves the schema from version `index` to `index + 1`. */
export const migrations: readonly string[] = [
  `
  CREATE TABLE kernel_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE bundles (
    hash   TEXT PRIMARY KEY,
    bundle TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE vats (
    vat_id            TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    bundle_hash       TEXT NOT NULL REFERENCES bundles(hash),
    parameters        TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('live', 'terminated')),
    terminated_reason TEXT,
    next_object_id    INTEGER NOT NULL DEFAULT 1,
    next_promise_id   INTEGER NOT NULL DEFAULT 1,
    deliveries_since_reap INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE kernel_objects (
    kref         TEXT PRIMARY KEY,
    owner        TEXT,
    lost_reason  TEXT,
    reachable    INTEGER NOT NULL DEFAULT 0 CHECK (reachable >= 0),
    recognizable INTEGER NOT NULL DEFAULT 0 CHECK (recognizable >= reachable)
  ) WITHOUT ROWID;

  CREATE TABLE kernel_promises (
    kpid       TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('unresolved', 'fulfilled', 'rejected')),
    decider    TEXT,
    body       TEXT,
    slots      TEXT,
    refcount   INTEGER NOT NULL DEFAULT 0 CHECK (refcount >= 0)
  ) WITHOUT ROWID;

  CREATE TABLE promise_subscribers (
    kpid     TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    PRIMARY KEY (kpid, endpoint)
  ) WITHOUT ROWID;

  CREATE TABLE promise_queue (
    kpid   TEXT NOT NULL,
    id     INTEGER NOT NULL,
    body   TEXT NOT NULL,
    slots  TEXT NOT NULL,
    result TEXT,
    PRIMARY KEY (kpid, id)
  ) WITHOUT ROWID;

  CREATE TABLE clist (
    endpoint  TEXT NOT NULL,
    kref      TEXT NOT NULL,
    eref      TEXT NOT NULL,
    reachable INTEGER NOT NULL CHECK (reachable IN (0, 1)),
    PRIMARY KEY (endpoint, kref)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX clist_by_eref ON clist (endpoint, eref);

  CREATE TABLE run_queue (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL CHECK (kind IN ('send', 'notify')),
    target   TEXT NOT NULL,
    body     TEXT,
    slots    TEXT,
    result   TEXT,
    endpoint TEXT
  );

  CREATE TABLE gc_actions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL CHECK (kind IN ('dropExport', 'retireExport', 'retireImport')),
    endpoint TEXT NOT NULL,
    kref     TEXT NOT NULL,
    UNIQUE (kind, endpoint, kref)
  );

  CREATE TABLE vatstore (
    vat_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (vat_id, key)
  ) WITHOUT ROWID;

  CREATE TABLE peers (
    peer_id       TEXT PRIMARY KEY,
    endpoint      TEXT NOT NULL UNIQUE,
    incarnation   TEXT,
    next_send_seq INTEGER NOT NULL DEFAULT 1,
    acked_seq     INTEGER NOT NULL DEFAULT 0,
    received_seq  INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE outbox (
    peer_id TEXT NOT NULL REFERENCES peers(peer_id),
    seq     INTEGER NOT NULL,
    frame   BLOB NOT NULL,
    PRIMARY KEY (peer_id, seq)
  ) WITHOUT ROWID;
  `,
  // v2: ref counters per peer for the remote c-lists, and issued ocap URLs.
  `
  ALTER TABLE peers ADD COLUMN next_object_id INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE peers ADD COLUMN next_promise_id INTEGER NOT NULL DEFAULT 1;

  CREATE TABLE ocap_urls (
    swiss TEXT PRIMARY KEY,
    kref  TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // v3: where each peer can be dialled (from the ocap URLs redeemed), so a
  // restarted node can reach its peers again.
  `
  ALTER TABLE peers ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';
  `,
  // v4: when each outbox row was written. Rows already waiting are stamped
  // with the time of the upgrade: their age is known from then on.
  `
  ALTER TABLE outbox ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
  UPDATE outbox SET created_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
  `,
  // v5: swiss numbers by their SHA-256. URLs issued before stay valid: each
  // row is rekeyed by the digest of its swiss number.
  `
  CREATE TABLE ocap_urls_v5 (
    swiss_sha256 BLOB PRIMARY KEY,
    kref         TEXT NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO ocap_urls_v5 (swiss_sha256, kref) SELECT sha256(swiss), kref FROM ocap_urls;
  DROP TABLE ocap_urls;
  ALTER TABLE ocap_urls_v5 RENAME TO ocap_urls;
  `,
  // v6: failed vats. SQLite cannot change a CHECK constraint in place, so
  // the table is rebuilt; every vat keeps its state and reason.
  `
  CREATE TABLE vats_v6 (
    vat_id            TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    bundle_hash       TEXT NOT NULL REFERENCES bundles(hash),
    parameters        TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('live', 'failed', 'terminated')),
    state_reason      TEXT,
    next_object_id    INTEGER NOT NULL DEFAULT 1,
    next_promise_id   INTEGER NOT NULL DEFAULT 1,
    deliveries_since_reap INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  INSERT INTO vats_v6 (vat_id, name, bundle_hash, parameters, state, state_reason, next_object_id, next_promise_id, deliveries_since_reap)
    SELECT vat_id, name, bundle_hash, parameters, state, terminated_reason, next_object_id, next_promise_id, deliveries_since_reap FROM vats;
  DROP TABLE vats;
  ALTER TABLE vats_v6 RENAME TO vats;
  `,
  // v7: peers the operator forgot; pairs that start over after a rollback.
  `
  ALTER TABLE peers ADD COLUMN forgotten_reason TEXT;
  ALTER TABLE peers ADD COLUMN local_incarnation TEXT;
  ALTER TABLE peers ADD COLUMN started_over TEXT;
  ALTER TABLE peers ADD COLUMN received_digest TEXT;
  ALTER TABLE peers ADD COLUMN acked_digest TEXT;
  ALTER TABLE outbox ADD COLUMN digest TEXT;
  `,
  // v8: a vat's runtime. The vats made before ran on liveslots.
  `
  ALTER TABLE vats ADD COLUMN runtime TEXT NOT NULL DEFAULT 'liveslots' CHECK (runtime IN ('liveslots', 'lean'));
  `,
  // v9: vat operations, timers, expiring and revocable ocap URLs, URLs redeemed for the operator.
  `
  CREATE TABLE vat_ops (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('create', 'upgrade', 'terminate')),
    vat_name    TEXT NOT NULL,
    bundle_hash TEXT REFERENCES bundles(hash),
    runtime     TEXT CHECK (runtime IN ('liveslots', 'lean')),
    parameters  TEXT,
    reason      TEXT,
    result      TEXT
  );

  CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    due_ms      INTEGER NOT NULL,
    interval_ms INTEGER CHECK (interval_ms > 0),
    handler     TEXT,
    result      TEXT,
    CHECK ((handler IS NULL) != (result IS NULL)),
    CHECK (interval_ms IS NULL OR handler IS NOT NULL)
  );
  CREATE INDEX timers_by_due ON timers (due_ms, id);
  CREATE INDEX timers_by_handler ON timers (handler);

  ALTER TABLE ocap_urls ADD COLUMN expires_at INTEGER;
  ALTER TABLE ocap_urls ADD COLUMN revoked_reason TEXT;

  CREATE TABLE redeemed_urls (
    url_sha256 BLOB PRIMARY KEY,
    kref       TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  ALTER TABLE peers ADD COLUMN start_overs INTEGER NOT NULL DEFAULT 0;
  `,
  `
  CREATE TABLE clist_retiring (
    endpoint TEXT NOT NULL,
    eref     TEXT NOT NULL,
    kref     TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (endpoint, eref)
  ) WITHOUT ROWID;
  CREATE INDEX clist_retiring_by_seq ON clist_retiring (endpoint, seq);
  `,
  `
  ALTER TABLE kernel_promises ADD COLUMN subscribers TEXT;
  UPDATE kernel_promises SET subscribers = (
    SELECT json_group_array(endpoint ORDER BY endpoint) FROM promise_subscribers AS s WHERE s.kpid = kernel_promises.kpid
  ) WHERE kpid IN (SELECT kpid FROM promise_subscribers);
  DROP TABLE promise_subscribers;
  `,
];
