import type { SqliteDatabase } from './db.js';
import type { EndpointId, KRef } from './types.js';

export interface CListEntry {
  endpoint: EndpointId;
  kref: KRef;
  eref: string;
  reachable: boolean;
}

interface Row {
  endpoint: EndpointId;
  kref: KRef;
  eref: string;
  reachable: number;
}

const toEntry = (row: Row): CListEntry => ({
  endpoint: row.endpoint,
  kref: row.kref,
  eref: row.eref,
  reachable: row.reachable === 1,
});

/** Per-endpoint translation tables: kref <-> endpoint ref (vref for vats). */
export function makeCListStore(db: SqliteDatabase) {
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO clist (endpoint, kref, eref, reachable) VALUES (?, ?, ?, ?)',
  );
  const byKref = db.prepare<[string, string], Row>('SELECT * FROM clist WHERE endpoint = ? AND kref = ?');
  const byEref = db.prepare<[string, string], Row>('SELECT * FROM clist WHERE endpoint = ? AND eref = ?');
  const setReachable = db.prepare<[number, string, string]>(
    'UPDATE clist SET reachable = ? WHERE endpoint = ? AND kref = ?',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM clist WHERE endpoint = ? AND kref = ?');
  const forEndpoint = db.prepare<[string], Row>('SELECT * FROM clist WHERE endpoint = ? ORDER BY kref');
  const forKref = db.prepare<[string], Row>('SELECT * FROM clist WHERE kref = ? ORDER BY endpoint');

  return {
    add(endpoint: EndpointId, kref: KRef, eref: string, reachable: boolean): void {
      insert.run(endpoint, kref, eref, reachable ? 1 : 0);
    },
    byKref(endpoint: EndpointId, kref: KRef): CListEntry | undefined {
      const row = byKref.get(endpoint, kref);
      return row && toEntry(row);
    },
    byEref(endpoint: EndpointId, eref: string): CListEntry | undefined {
      const row = byEref.get(endpoint, eref);
      return row && toEntry(row);
    },
    setReachable(endpoint: EndpointId, kref: KRef, reachable: boolean): void {
      setReachable.run(reachable ? 1 : 0, endpoint, kref);
    },
    delete(endpoint: EndpointId, kref: KRef): void {
      remove.run(endpoint, kref);
    },
    entriesOf(endpoint: EndpointId): CListEntry[] {
      return forEndpoint.all(endpoint).map(toEntry);
    },
    /** Every endpoint that has `kref` in its c-list. */
    holdersOf(kref: KRef): CListEntry[] {
      return forKref.all(kref).map(toEntry);
    },
  };
}

export type CListStore = ReturnType<typeof makeCListStore>;
