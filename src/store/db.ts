import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { assert } from '../util/assert.js';
import type { Durability } from './durability.js';
import { createPrivateFile } from '../util/fileModes.js';
import { PendingTable, type PendingRow, type WritesAtCommit } from './pendingTable.js';
import { defaultMaxCachedRows, RowCache } from './rowCache.js';
import { migrations, schemaVersion } from './schema.js';
import { StorageError, storageErrorOf } from './storageError.js';

/** A better-sqlite3 connection; only `src/store` touches it. */
export type SqliteDatabase = Database.Database;

export { durabilities, type Durability } from './durability.js';

/** Thrown when a store on disk cannot be opened as this version's store. */
export class StoreVersionError extends Error {
  override name = 'StoreVersionError';
}

/** The paths SQLite takes for a database without a file. */
export const fileless = new Set([':memory:', '']);

/**
 * Opens (creating if needed) the SQLite file at `path`, sets the WAL
 * pragmas, and brings the schema to {@link schemaVersion}. One process, one
 * writer: a second process opening the same file fails on the write lock
 * rather than interleaving cranks. A new file is for its owner alone (0600),
 * and so are the `-wal` and `-shm` files, to which SQLite gives the mode of
 * the database file.
 */
export function openDatabase(path: string, onStatement?: (sql: string) => void): SqliteDatabase {
  // SQLite would create the file 0644 (less the umask): made first, it holds the node's key only once it is private.
  if (!fileless.has(path)) createPrivateFile(path);
  let db: SqliteDatabase;
  try {
    db = new Database(path, onStatement === undefined ? {} : { verbose: (sql) => onStatement(String(sql)) });
  } catch (error) {
    throw storageErrorOf(error, openingWhat(path)) ?? error;
  }
  try {
    db.pragma('journal_mode = WAL');
    // In `fsync` mode too: the WAL is flushed after COMMIT, off the critical path (walSync.ts).
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Each crank's savepoint keeps the pages it changes in a sub-journal: in memory, not in a temporary file.
    db.pragma('temp_store = MEMORY');
    // Another process holding the write lock means two nodes share one store:
    // fail fast instead of waiting.
    db.pragma('busy_timeout = 0');
    // Swiss numbers are stored and looked up by digest (schema v5).
    db.function('sha256', { deterministic: true }, (text) => createHash('sha256').update(String(text), 'utf8').digest());
    // Every page's structure, before the node trusts any of it: a store
    // damaged on disk stops the start here, not at whichever crank reads the
    // damaged page first (cost: one read of the file, about 60 ms per 100 MB from the page cache).
    if (!fileless.has(path)) checkIntact(db, path);
    migrate(db);
  } catch (error) {
    // Do not leak the connection (and its file handles) of a store we refuse.
    db.close();
    throw storageErrorOf(error, openingWhat(path)) ?? error;
  }
  return db;
}

/** What was being opened, and what an operator may need to know of it. */
function openingWhat(path: string): string {
  if (fileless.has(path)) return 'opening a store in memory';
  const directory = dirname(path);
  try {
    accessSync(directory, constants.W_OK);
  } catch {
    return `opening ${path}: its directory ${directory} is not writable, and the store needs to write there (its -wal and -shm files)`;
  }
  return `opening ${path}`;
}

function checkIntact(db: SqliteDatabase, path: string): void {
  const verdict = db.pragma('quick_check(1)', { simple: true });
  if (verdict !== 'ok') throw new StorageError(`the store ${path} is damaged: ${String(verdict)}`, 'SQLITE_CORRUPT');
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > schemaVersion) {
    throw new StoreVersionError(
      `store schema version ${current} is newer than this ken-node (${schemaVersion}); upgrade ken-node`,
    );
  }
  for (let version = current; version < schemaVersion; version += 1) {
    const step = migrations[version];
    assert(step !== undefined, `missing migration ${version} -> ${version + 1}`);
    // Each migration step and its version bump commit together, so a crash
    // mid-migration leaves the store at the previous version.
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/**
 * The kernel's transaction discipline over one connection. A transaction is
 * opened lazily by the first crank after a commit and stays open across
 * cranks until {@link TransactionControl.commit} (group commit); each crank
 * runs inside the savepoint `crank`, so one crank can be undone alone.
 *
 * The hot tables write at the COMMIT (pendingTable.ts): their changes wait
 * in memory, journaled per crank, and the COMMIT writes them first. The
 * rest write at once, through {@link TransactionControl.direct}
 * statements, which open the transaction and the crank's savepoint first:
 * a crank that writes nothing at once costs no statement. The row caches
 * of the store's tables are emptied at every undo (rowCache.ts).
 */
/** A statement that writes at once (not at the COMMIT): see {@link TransactionControl.direct}. */
export interface DirectStatement<P extends unknown[], R> {
  run(...params: P): Database.RunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

export class TransactionControl {
  #inCrank = false;
  /** The open crank's savepoint is open: opened by its first direct write, not before (most cranks write only at the COMMIT). */
  #savepointOpen = false;
  readonly #caches: RowCache<unknown, unknown>[] = [];
  readonly #pendingTables: WritesAtCommit[] = [];
  readonly #undoListeners: (() => void)[] = [];
  readonly #begin;
  readonly #commit;
  readonly #savepoint;
  readonly #release;
  readonly #rollbackTo;

  constructor(private readonly db: SqliteDatabase) {
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#savepoint = db.prepare('SAVEPOINT crank');
    this.#release = db.prepare('RELEASE crank');
    this.#rollbackTo = db.prepare('ROLLBACK TO crank');
  }

  /**
   * `statement`, which writes at once: each run opens the transaction (and,
   * in a crank, its savepoint) first, so that a crank's abort undoes it. A
   * store makes every statement that writes outside the COMMIT this way.
   */
  direct<P extends unknown[], R>(statement: Database.Statement<P, R>): DirectStatement<P, R> {
    return {
      run: (...params) => {
        this.#beforeDirectWrite();
        return statement.run(...params);
      },
      get: (...params) => {
        this.#beforeDirectWrite();
        return statement.get(...params);
      },
      all: (...params) => {
        this.#beforeDirectWrite();
        return statement.all(...params);
      },
    };
  }

  #beforeDirectWrite(): void {
    assert(this.#inCrank || this.db.inTransaction, 'a direct write outside a crank and outside a transaction');
    if (!this.#inCrank || this.#savepointOpen) return;
    if (!this.db.inTransaction) this.#begin.run();
    this.#savepoint.run();
    this.#savepointOpen = true;
  }

  /** A cache of rows of one table, emptied whenever SQLite undoes writes. */
  newCache<K, V>(maxRows = defaultMaxCachedRows): RowCache<K, V> {
    const cache = new RowCache<K, V>(maxRows);
    this.#caches.push(cache as RowCache<unknown, unknown>);
    return cache;
  }

  /**
   * A table whose writes wait for the COMMIT (pendingTable.ts). Tables are
   * written at the COMMIT in the order they were made here: a table whose
   * rows reference another's comes after it.
   */
  newPendingTable<K, V>(
    load: (key: K) => V | undefined,
    write: (changed: ReadonlyMap<K, PendingRow<V>>) => void,
    maxRows = defaultMaxCachedRows,
  ): PendingTable<K, V> {
    const table = new PendingTable<K, V>(this.newCache<K, V>(maxRows), load, write);
    this.#pendingTables.push(table);
    return table;
  }

  /** Something else whose writes wait for the COMMIT (a queue, an outbox), driven as the pending tables are. */
  addWritesAtCommit(writes: WritesAtCommit): void {
    this.#pendingTables.push(writes);
  }

  /** Calls `listener` whenever SQLite undoes writes (a crank's abort, a rollback): what a store knows of its rows may be wrong after it. */
  onUndo(listener: () => void): void {
    this.#undoListeners.push(listener);
  }

  /** True while a crank's savepoint is open. */
  get inCrank(): boolean {
    return this.#inCrank;
  }

  /** True while writes are waiting for a COMMIT. */
  get uncommitted(): boolean {
    return this.db.inTransaction || this.#pendingTables.some((table) => table.changed);
  }

  beginCrank(): void {
    assert(!this.#inCrank, 'nested crank');
    for (const table of this.#pendingTables) table.beginCrank();
    this.#inCrank = true;
  }

  /** Keeps the crank's writes; they become durable at the next commit. */
  endCrank(): void {
    assert(this.#inCrank, 'endCrank without beginCrank');
    if (this.#savepointOpen) this.#release.run();
    this.#savepointOpen = false;
    for (const table of this.#pendingTables) table.endCrank();
    this.#inCrank = false;
  }

  /** Undoes every write made since {@link beginCrank}. */
  abortCrank(): void {
    assert(this.#inCrank, 'abortCrank without beginCrank');
    if (this.#savepointOpen) {
      this.#emptyCaches();
      this.#rollbackTo.run();
      this.#release.run();
    }
    this.#savepointOpen = false;
    for (const table of this.#pendingTables) table.abortCrank();
    this.#inCrank = false;
  }

  /**
   * Undoes everything uncommitted, the crank in progress included: after an
   * error the kernel stops on (SQLite may have rolled back already).
   */
  rollback(): void {
    this.#inCrank = false;
    this.#savepointOpen = false;
    for (const table of this.#pendingTables) table.discard();
    this.#emptyCaches();
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  #emptyCaches(): void {
    for (const cache of this.#caches) cache.clear();
    for (const listener of this.#undoListeners) listener();
  }

  /**
   * Writes what waits for the COMMIT, then COMMIT (its flush to disk, in
   * `fsync` mode, is walSync.ts's). Returns false if there was nothing to
   * commit.
   */
  commit(): boolean {
    assert(!this.#inCrank, 'commit inside a crank');
    const pending = this.#pendingTables.some((table) => table.changed);
    if (!this.db.inTransaction) {
      if (!pending) return false;
      this.#begin.run();
    }
    for (const table of this.#pendingTables) table.write();
    this.#commit.run();
    for (const table of this.#pendingTables) table.written();
    return true;
  }

  /**
   * Runs `read` on SQLite as it would be with every pending write made (the
   * store as the kernel sees it, read with SQL), then undoes those writes:
   * for dumps that compare the whole store.
   */
  readAsWritten<T>(read: () => T): T {
    this.db.exec('SAVEPOINT as_written');
    try {
      for (const table of this.#pendingTables) table.write();
      return read();
    } finally {
      this.db.exec('ROLLBACK TO as_written');
      this.db.exec('RELEASE as_written');
    }
  }
}
