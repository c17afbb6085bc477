import type { SqliteDatabase } from './db.js';
import type { VatId } from './types.js';

/** Each vat's ordered key-value store, read and written inside its cranks. */
export function makeVatstoreStore(db: SqliteDatabase) {
  const get = db.prepare<[string, string], { value: string }>('SELECT value FROM vatstore WHERE vat_id = ? AND key = ?');
  const next = db.prepare<[string, string], { key: string }>(
    'SELECT key FROM vatstore WHERE vat_id = ? AND key > ? ORDER BY key LIMIT 1',
  );
  const set = db.prepare<[string, string, string]>(
    'INSERT INTO vatstore (vat_id, key, value) VALUES (?, ?, ?) ON CONFLICT (vat_id, key) DO UPDATE SET value = excluded.value',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM vatstore WHERE vat_id = ? AND key = ?');
  const removeAll = db.prepare<[string]>('DELETE FROM vatstore WHERE vat_id = ?');
  const count = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM vatstore WHERE vat_id = ?');

  return {
    get(vatId: VatId, key: string): string | undefined {
      return get.get(vatId, key)?.value;
    },
    /** The first key strictly after `priorKey`, in byte order, or undefined. */
    getNextKey(vatId: VatId, priorKey: string): string | undefined {
      return next.get(vatId, priorKey)?.key;
    },
    set(vatId: VatId, key: string, value: string): void {
      set.run(vatId, key, value);
    },
    delete(vatId: VatId, key: string): void {
      remove.run(vatId, key);
    },
    deleteAll(vatId: VatId): void {
      removeAll.run(vatId);
    },
    /** How many entries the vat's store holds. */
    count(vatId: VatId): number {
      return count.get(vatId)?.n ?? 0;
    },
  };
}

export type VatstoreStore = ReturnType<typeof makeVatstoreStore>;
