/**
 * Rows of one table as SQLite holds them, kept in memory after their first
 * read, so that the hot reads of a crank (c-list lookups, promise and
 * object records, vat records) cost a Map lookup instead of a statement.
 * The cache takes a written value only once the statement has succeeded
 * (for the tables that write at the COMMIT, pendingTable.ts: once the
 * COMMIT has written it), so SQLite stays the truth.
 *
 * An undo in SQLite (a crank's `ROLLBACK TO`, a transaction's `ROLLBACK`)
 * may remove rows the cache holds: {@link TransactionControl} empties
 * every cache then, and the rows are read again. Aborts are rare (a failed
 * delivery, a refused run of frames), so emptying is cheaper than keeping
 * an undo log. Values are frozen: a caller cannot change a cached row.
 */
export class RowCache<K, V> {
  /** A key mapped to undefined is a row known to be absent. */
  readonly #rows = new Map<K, V | undefined>();

  /** @param maxRows - past this many rows the cache forgets the oldest quarter: memory stays bounded on a store of any size. */
  constructor(private readonly maxRows: number) {}

  /** The row for `key`, from memory or else from `load` (whose answer is kept, absent or not). */
  get(key: K, load: () => V | undefined): V | undefined {
    const cached = this.#rows.get(key);
    if (cached !== undefined || this.#rows.has(key)) return cached;
    const row = load();
    this.set(key, row);
    return row;
  }

  /** The cached row for `key`, without reading SQLite: undefined if it is absent or not cached. */
  peek(key: K): V | undefined {
    return this.#rows.get(key);
  }

  /** True if the cache knows `key`'s row (which may be that there is none). */
  has(key: K): boolean {
    return this.#rows.has(key);
  }

  /** What SQLite now holds for `key` (undefined: no row), after a write that succeeded. */
  set(key: K, row: V | undefined): void {
    if (this.#rows.size >= this.maxRows && !this.#rows.has(key)) this.#evictOldest();
    this.#rows.set(key, row === undefined ? undefined : Object.freeze(row));
  }

  /** Forgets the quarter of the rows cached first (a Map iterates in insertion order): what a burst made long ago goes, what it made last stays. */
  #evictOldest(): void {
    let count = Math.ceil(this.maxRows / 4);
    for (const key of this.#rows.keys()) {
      this.#rows.delete(key);
      if (--count === 0) return;
    }
  }

  /** Forgets `key`: the next read goes to SQLite (after a write whose result the cache cannot compute). */
  forget(key: K): void {
    this.#rows.delete(key);
  }

  clear(): void {
    this.#rows.clear();
  }
}

/**
 * How many rows one table's cache holds at most: enough for the promises,
 * c-list entries and objects of a burst of 20,000 messages in flight (about
 * 10 MB per table at most). A crank that makes more than a cache holds
 * reads the oldest back from SQLite.
 */
export const defaultMaxCachedRows = 50_000;
