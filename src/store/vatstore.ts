import type { SqliteDatabase, TransactionControl } from './db.js';
import { GreatestKeys } from './greatestKeys.js';
import { compareKeys } from './keyOrder.js';
import type { VatId } from './types.js';

/** Rows of vatstores held in memory at most (values may be large): what was read last, and what changed since the COMMIT. */
const maxCachedVatstoreRows = 4096;

/** A row's key in the pending table: the vat, then its key (vat ids have no spaces). */
const rowKey = (vatId: VatId, key: string) => `${vatId} ${key}`;

/**
 * Each vat's ordered key-value store, read and written inside its cranks.
 * Writes wait for the COMMIT (pendingTable.ts): a key written many times in
 * a group of cranks (a counter) is written once, and what a vat reads on
 * every delivery (liveslots' collection schemas) comes from memory.
 */
export function makeVatstoreStore(db: SqliteDatabase, tx: TransactionControl) {
  const get = db.prepare<[string, string], { value: string }>('SELECT value FROM vatstore WHERE vat_id = ? AND key = ?');
  const next = db.prepare<[string, string], { key: string }>(
    'SELECT key FROM vatstore WHERE vat_id = ? AND key > ? ORDER BY key LIMIT 1',
  );
  const set = db.prepare<[string, string, string]>(
    'INSERT INTO vatstore (vat_id, key, value) VALUES (?, ?, ?) ON CONFLICT (vat_id, key) DO UPDATE SET value = excluded.value',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM vatstore WHERE vat_id = ? AND key = ?');
  const keysOf = db.prepare<[string], { key: string }>('SELECT key FROM vatstore WHERE vat_id = ?');
  const split = (row: string): [VatId, string] => {
    const space = row.indexOf(' ');
    return [row.slice(0, space) as VatId, row.slice(space + 1)];
  };
  const greatestKeys = new GreatestKeys(db);
  const rows = tx.newPendingTable<string, string>(
    (row) => {
      const [vatId, key] = split(row);
      // A collection's new entry (an `init` checks its key is free) is mostly above every key SQLite holds under its prefix.
      return greatestKeys.isAbove(vatId, key) ? undefined : get.get(vatId, key)?.value;
    },
    (changed) => {
      for (const [row, { value, stored }] of changed) {
        const [vatId, key] = split(row);
        if (value !== undefined) {
          set.run(vatId, key, value);
          greatestKeys.written(vatId, key);
        } else if (stored) remove.run(vatId, key);
      }
    },
    maxCachedVatstoreRows,
  );
  const count = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM vatstore WHERE vat_id = ?');

  return {
    get(vatId: VatId, key: string): string | undefined {
      return rows.get(rowKey(vatId, key));
    },
    /** The first key strictly after `priorKey`, in SQLite's order ({@link compareKeys}), or undefined. */
    getNextKey(vatId: VatId, priorKey: string): string | undefined {
      const changed = rows.changedRows();
      // In SQLite: the first key after `priorKey` that no change since the COMMIT deleted.
      let fromSqlite = next.get(vatId, priorKey)?.key;
      while (fromSqlite !== undefined && changed.get(rowKey(vatId, fromSqlite))?.value === undefined && changed.has(rowKey(vatId, fromSqlite))) {
        fromSqlite = next.get(vatId, fromSqlite)?.key;
      }
      // Among the changes: the first key after `priorKey` that one wrote.
      let fromChanges: string | undefined;
      const prefix = `${vatId} `;
      for (const [row, { value }] of changed) {
        if (value === undefined || !row.startsWith(prefix)) continue;
        const key = row.slice(prefix.length);
        if (compareKeys(key, priorKey) > 0 && (fromChanges === undefined || compareKeys(key, fromChanges) < 0)) fromChanges = key;
      }
      if (fromSqlite === undefined) return fromChanges;
      if (fromChanges === undefined) return fromSqlite;
      return compareKeys(fromSqlite, fromChanges) <= 0 ? fromSqlite : fromChanges;
    },
    // Taken as stored, without asking SQLite: the COMMIT upserts a value, and deletes a key that may not be there.
    set(vatId: VatId, key: string, value: string): void {
      rows.set(rowKey(vatId, key), value, true);
    },
    delete(vatId: VatId, key: string): void {
      rows.set(rowKey(vatId, key), undefined, true);
    },
    /** Every key of the vat goes (it is terminated): a delete of each, written at the COMMIT. */
    deleteAll(vatId: VatId): void {
      const prefix = `${vatId} `;
      const changedKeys = [...rows.changedRows().keys()].filter((row) => row.startsWith(prefix));
      for (const row of [...keysOf.all(vatId).map(({ key }) => rowKey(vatId, key)), ...changedKeys]) rows.set(row, undefined, true);
    },
    /** How many entries the vat's store holds. */
    count(vatId: VatId): number {
      // With what waits for the COMMIT written (and undone after): sets are taken as stored, so the changes alone cannot tell.
      return tx.readAsWritten(() => count.get(vatId)?.n ?? 0);
    },
  };
}

export type VatstoreStore = ReturnType<typeof makeVatstoreStore>;
