import { makeCListStore } from './clist.js';
import { makeRetiringRefStore } from './retiringRefs.js';
import { fileless, openDatabase, TransactionControl, type Durability, type SqliteDatabase } from './db.js';
import { makeMetaStore } from './meta.js';
import { makeObjectStore } from './objects.js';
import { makeOutboxStore } from './outbox.js';
import { makePeerStore } from './peers.js';
import { makePromiseStore } from './promises.js';
import { makeQueueStore } from './queues.js';
import { makeRedeemedUrlStore } from './redeemedUrls.js';
import { makeTimerStore } from './timers.js';
import { makeVatOpStore } from './vatOps.js';
import { makeVatstoreStore } from './vatstore.js';
import { makeVatStore } from './vats.js';
import type { KObjectRef, KPromiseRef } from './types.js';
import { WalSync, type WalDisk } from './walSync.js';

export { durabilities, StoreVersionError, type Durability } from './db.js';
export { StorageError, storageErrorOf } from './storageError.js';
export type * from './types.js';

export interface StoreOptions {
  /** Path of the SQLite file; `:memory:` for a throwaway store. */
  path: string;
  durability: Durability;
  /** The wall clock for row stamps that only metrics read (epoch ms); `Date.now` unless a simulation brings its own. */
  now?: () => number;
  /** Called with the text of every SQL statement the store runs (better-sqlite3's `verbose`): the bench counts them. */
  onStatement?: (sql: string) => void;
  /** Test-only: how the WAL file is flushed in `fsync` mode (a slow fake disk); Node's `fs` unless given. */
  disk?: WalDisk;
}

/**
 * The kernel's persistent state: one SQLite connection, one writer, and a
 * module per domain. Only this folder knows SQL; the kernel calls methods
 * named for what they mean.
 */
export function openStore(options: StoreOptions) {
  const db = openDatabase(options.path, options.onStatement);
  // `fsync` on a file: COMMITs are flushed after they return, off the critical path (walSync.ts).
  const walSync = options.durability === 'fsync' && !fileless.has(options.path) ? new WalSync(options.path, options.disk) : undefined;
  // What opening wrote (a migration) is on disk before anything reads it.
  walSync?.flushNow();
  const tx = new TransactionControl(db);
  const meta = makeMetaStore(db, tx, () => walSync?.flushNow());
  const outbox = makeOutboxStore(db, tx, options.now ?? Date.now);
  const objects = makeObjectStore(db, () => meta.allocate('ko'), tx);
  const promises = makePromiseStore(db, () => meta.allocate('kp'), tx);
  const clist = makeCListStore(db, tx, (kref) => (kref.startsWith('kp') ? promises.isNew(kref as KPromiseRef) : objects.isNew(kref as KObjectRef)));
  const store = {
    durability: options.durability,
    /** Set in `fsync` mode on a file: what a COMMIT released waits for it (the kernel hands it over). */
    walSync,
    tx,
    meta,
    vats: makeVatStore(db, () => meta.allocate('vat'), tx),
    objects,
    promises,
    clist,
    retiringRefs: makeRetiringRefStore(db, tx),
    queues: makeQueueStore(db, tx),
    vatstore: makeVatstoreStore(db, tx),
    outbox,
    peers: makePeerStore(db, () => meta.allocate('remote'), outbox, tx, (endpoint) => clist.entriesOf(endpoint).length > 0),
    vatOps: makeVatOpStore(db, tx),
    timers: makeTimerStore(db, tx),
    redeemedUrls: makeRedeemedUrlStore(db, tx),
    /** Every row of every table, in key order, as the kernel sees it (what waits for the COMMIT included): for tests and diagnostics. */
    dump: () => tx.readAsWritten(() => dumpTables(db)),
    close: () => {
      walSync?.close();
      db.close();
    },
  };
  return store;
}

export type KernelStore = ReturnType<typeof openStore>;

function dumpTables(db: SqliteDatabase): Record<string, unknown[]> {
  const tables = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
    .all();
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    // Ordering by every column makes the dump independent of physical order.
    const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`).all();
    const orderBy = columns.map((column) => `"${column.name}"`).join(', ');
    dump[name] = db.prepare(`SELECT * FROM "${name}" ORDER BY ${orderBy}`).all();
  }
  return dump;
}
