import { isDeepStrictEqual } from 'node:util';
import { assert } from '../util/assert.js';
import type { RowCache } from './rowCache.js';

/**
 * A row changed since the last COMMIT: its value now (undefined: deleted),
 * and whether SQLite held a row for its key at the last COMMIT (so that the
 * COMMIT knows to insert, update, delete, or write nothing).
 */
export interface PendingRow<V> {
  readonly value: V | undefined;
  readonly stored: boolean;
}

/** What {@link PendingTable.known} says of a key whose row it cannot tell without asking SQLite. */
export const unknown = Symbol('unknown');

/** What {@link TransactionControl} drives in every table whose writes wait for the COMMIT. */
export interface WritesAtCommit {
  beginCrank(): void;
  endCrank(): void;
  /** Undoes every change made since {@link beginCrank}. */
  abortCrank(): void;
  /** Writes what changed to SQLite, inside the COMMIT's transaction (or a savepoint a dump rolls back), and keeps it. */
  write(): void;
  /** What was written is committed: forgets it. */
  written(): void;
  /** Forgets what changed (the transaction was rolled back). */
  discard(): void;
  /** True while changes wait for a COMMIT. */
  readonly changed: boolean;
}

/**
 * Rows of one table as the kernel's open transaction has them. A change is
 * made in memory, journaled if a crank is open (an abort undoes it, as
 * `ROLLBACK TO` undoes the crank's direct writes), and written to SQLite
 * only at the COMMIT, as one batch: a row changed many times in a group
 * of cranks is written once, and a row created and deleted within one (a
 * result promise, its c-list entries) is never written, nor one changed
 * back to what SQLite holds (an object's counts, up and down again). Nothing reads the
 * table's rows from SQLite but through {@link PendingTable.get} (or a
 * store method that merges {@link PendingTable.changedRows} into what it
 * reads), so the kernel sees its own writes; other connections see only
 * what was committed, as before.
 *
 * Reads of unchanged rows go to a cache of what SQLite holds (`clean`,
 * rowCache.ts), refreshed with each row the COMMIT writes.
 */
export class PendingTable<K, V> implements WritesAtCommit {
  /**
   * A key's row is made at its first change in a group and changed in place
   * after (one allocation a key, not one a change), with what SQLite held
   * then if the cache knew it (`unknown` if not).
   */
  readonly #changed = new Map<K, { value: V | undefined; stored: boolean; before: V | undefined | typeof unknown }>();
  /**
   * Per change made in the open crank: the key, its value before, and
   * whether it had changed earlier in the group (if not, the undo forgets
   * it). Parallel lists, not a list of records: no allocation per change.
   */
  readonly #journalKeys: K[] = [];
  readonly #journalValues: (V | undefined)[] = [];
  readonly #journalHadRow: boolean[] = [];
  #inCrank = false;

  /**
   * @param clean - what SQLite holds, by key (undefined: no row); emptied at every undo of SQLite's.
   * @param load - reads one row from SQLite.
   * @param writeRows - writes the changed rows, at the COMMIT.
   */
  constructor(
    private readonly clean: RowCache<K, V>,
    private readonly load: (key: K) => V | undefined,
    private readonly writeRows: (changed: ReadonlyMap<K, PendingRow<V>>) => void,
  ) {}

  get changed(): boolean {
    return this.#changed.size > 0;
  }

  /** The row of `key` as the open transaction has it; undefined if there is none. */
  get(key: K): V | undefined {
    const pending = this.#changed.get(key);
    if (pending !== undefined) return pending.value;
    return this.clean.get(key, () => this.load(key));
  }

  /**
   * Sets the row of `key` (undefined deletes it); the value is frozen.
   * `stored` says whether SQLite holds a row for the key, when the caller
   * knows (a key just allocated: false); otherwise it is read.
   */
  set(key: K, value: V | undefined, stored?: boolean): void {
    const frozen = value === undefined ? undefined : Object.freeze(value);
    const row = this.#changed.get(key);
    if (this.#inCrank) {
      this.#journalKeys.push(key);
      this.#journalValues.push(row?.value);
      this.#journalHadRow.push(row !== undefined);
    }
    if (row !== undefined) {
      row.value = frozen;
      // A row deleted in the group may be made again by a write at once (a pruned peer's): SQLite's row is then not the one known before.
      if (frozen === undefined) row.before = unknown;
      return;
    }
    const wasStored = stored ?? this.clean.get(key, () => this.load(key)) !== undefined;
    this.#changed.set(key, { value: frozen, stored: wasStored, before: frozen !== undefined && this.clean.has(key) ? this.clean.peek(key) : unknown });
  }

  /** True if the COMMIT will write `key`'s row: changed since the last one, and not back where SQLite has it. */
  writes(key: K): boolean {
    const row = this.#changed.get(key);
    return row !== undefined && !isBack(row);
  }

  /** True if SQLite held no row for `key` at the last COMMIT and it changed since (a key made in this group). */
  isNew(key: K): boolean {
    return this.#changed.get(key)?.stored === false;
  }

  /** What is known of `key` without asking SQLite: its row (undefined: known to have none), or `unknown`. */
  known(key: K): V | undefined | typeof unknown {
    const pending = this.#changed.get(key);
    if (pending !== undefined) return pending.value;
    return this.clean.has(key) ? this.clean.peek(key) : unknown;
  }

  /** The rows changed since the last COMMIT (for the rare reads that scan the table: merged into what they read from SQLite). */
  changedRows(): ReadonlyMap<K, PendingRow<V>> {
    return this.#changed;
  }

  beginCrank(): void {
    assert(!this.#inCrank && this.#journalKeys.length === 0, 'pending table: nested crank');
    this.#inCrank = true;
  }

  endCrank(): void {
    this.#inCrank = false;
    this.#journalKeys.length = 0;
    this.#journalValues.length = 0;
    this.#journalHadRow.length = 0;
  }

  abortCrank(): void {
    for (let index = this.#journalKeys.length - 1; index >= 0; index -= 1) {
      const key = this.#journalKeys[index] as K;
      const row = this.#changed.get(key);
      assert(row !== undefined, 'pending table: a journaled change without its row');
      if (this.#journalHadRow[index] === true) row.value = this.#journalValues[index];
      else this.#changed.delete(key);
    }
    this.endCrank();
  }

  /** Writes the rows that changed, but those back where SQLite has them (a count up and down again in one group: no statement). */
  write(): void {
    if (this.#changed.size === 0) return;
    let rows: Map<K, PendingRow<V>> | undefined;
    for (const [key, row] of this.#changed) {
      if (!isBack(row)) continue;
      rows ??= new Map(this.#changed);
      rows.delete(key);
    }
    const changed = rows ?? this.#changed;
    if (changed.size > 0) this.writeRows(changed);
  }

  written(): void {
    assert(!this.#inCrank, 'pending table: COMMIT inside a crank');
    for (const [key, row] of this.#changed) {
      // A deleted row is forgotten, not kept as absent: rows die by the message (result promises, their c-list entries), and absent keys filled the caches to their bound, slowing every lookup.
      if (row.value === undefined) this.clean.forget(key);
      else this.clean.set(key, row.value);
    }
    this.#changed.clear();
  }

  discard(): void {
    this.#changed.clear();
    this.endCrank();
  }
}

/** True for a row SQLite holds as it is now: stored, and known to have held this very value. */
function isBack<V>(row: { value: V | undefined; stored: boolean; before: V | undefined | typeof unknown }): boolean {
  return row.stored && row.before !== unknown && row.before !== undefined && row.value !== undefined && (row.before === row.value || isDeepStrictEqual(row.before, row.value));
}
