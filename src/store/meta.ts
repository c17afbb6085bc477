import { systemEntropy, type Entropy } from '../util/random.js';
import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';

/** Names of the kernel's id counters. */
export type CounterName = 'ko' | 'kp' | 'vat' | 'remote';

/** The key of a store restored from a backup and not yet started. */
const restoreMark = 'restore.pending';

/**
 * Kernel-wide counters and the store's incarnation. `ownTransactionDone`
 * runs after each write in a transaction of its own (at open time): in
 * `fsync` mode it puts that write on disk before anything can depend on it.
 */
export function makeMetaStore(db: SqliteDatabase, tx: TransactionControl, ownTransactionDone: () => void = () => {}) {
  const read = db.prepare<[string], { value: string }>('SELECT value FROM kernel_meta WHERE key = ?');
  const remove = db.prepare<[string]>('DELETE FROM kernel_meta WHERE key = ?');
  const write = db.prepare<[string, string]>(
    'INSERT INTO kernel_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  // The same writes, made in a crank (or its transaction) rather than at open time or at the COMMIT.
  const writeInCrank = tx.direct(write);
  const removeInCrank = tx.direct(remove);
  /** The incarnation as the open transaction has it, once read; an undo may take a new one back, so it is read again after one. */
  let incarnation: string | undefined;
  tx.onUndo(() => {
    incarnation = undefined;
  });

  /**
   * The value of `key`, made and written by `make` the first time. Called
   * at open time, before any crank, in a transaction of its own: a crash
   * before it commits leaves no value, and the next start makes a fresh one.
   */
  function provide(key: string, make: () => string): string {
    const existing = read.get(key);
    if (existing !== undefined) return existing.value;
    const value = make();
    db.transaction(() => write.run(key, value))();
    ownTransactionDone();
    return value;
  }

  /** The next value of each counter, written at the COMMIT (pendingTable.ts): a crank that sends 10,000 messages allocates 10,000 promises. */
  const counters = tx.newPendingTable<CounterName, number>(
    (counter) => {
      const row = read.get(`next.${counter}`);
      return row === undefined ? undefined : Number(row.value);
    },
    (changed) => {
      for (const [counter, { value }] of changed) {
        assert(value !== undefined, `counter ${counter} deleted`);
        write.run(`next.${counter}`, String(value));
      }
    },
  );

  return {
    /** Returns the next id for `counter` (1, 2, ...); part of the crank in progress. */
    allocate(counter: CounterName): number {
      assert(tx.inCrank, `an id (${counter}) allocated outside a crank`);
      const value = (counters.get(counter) ?? 0) + 1;
      counters.set(counter, value);
      return value;
    },

    get(key: string): string | undefined {
      return read.get(key)?.value;
    },

    /** Writes a kernel-wide setting; part of the caller's transaction. */
    set(key: string, value: string): void {
      writeInCrank.run(key, value);
    },

    provide,

    /**
     * Deletes `key`, at open time, before any crank, in a transaction of
     * its own (the caller has made sure that nothing needs it any more).
     */
    removeAtOpen(key: string): void {
      db.transaction(() => remove.run(key))();
      ownTransactionDone();
    },

    /**
     * The store's incarnation: random, made once when the store is created.
     * A wiped store gets a new one, which is how peers detect amnesia.
     */
    incarnation(entropy: Entropy = systemEntropy): string {
      incarnation ??= provide('incarnation', () => entropy(16));
      return incarnation;
    },

    /** What `ken-node restore` wrote into a store it put back from a backup; undefined once the node started from it as a new incarnation. */
    restoredFrom(): string | undefined {
      return read.get(restoreMark)?.value;
    },

    /**
     * Marks a store just restored from a backup (`ken-node restore`, before
     * any node opens it), in a transaction of its own: its next start makes
     * it a new incarnation.
     */
    markRestored(note: string): void {
      db.transaction(() => write.run(restoreMark, note))();
      ownTransactionDone();
    },

    /** The restored store is a new incarnation now; part of the caller's transaction (the crank that starts every pair over). */
    becomeNewIncarnation(entropy: Entropy): string {
      const fresh = entropy(16);
      writeInCrank.run('incarnation', fresh);
      removeInCrank.run(restoreMark);
      incarnation = fresh;
      return fresh;
    },
  };
}

export type MetaStore = ReturnType<typeof makeMetaStore>;
