import type { SqliteDatabase } from './db.js';
import type { RowCache } from './rowCache.js';
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

/** The cache's key of an entry looked up by kref, and by endpoint ref: one cache holds both ways in. */
const krefKey = (endpoint: EndpointId, kref: KRef) => `k ${endpoint} ${kref}`;
const erefKey = (endpoint: EndpointId, eref: string) => `e ${endpoint} ${eref}`;

/** Per-endpoint translation tables: kref <-> endpoint ref (vref for vats). Lookups both ways are cached (rowCache.ts). */
export function makeCListStore(db: SqliteDatabase, cache: RowCache<string, CListEntry>) {
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO clist (endpoint, kref, eref, reachable) VALUES (?, ?, ?, ?)',
  );
  const byKref = db.prepare<[string, string], Row>('SELECT * FROM clist WHERE endpoint = ? AND kref = ?');
  const byEref = db.prepare<[string, string], Row>('SELECT * FROM clist WHERE endpoint = ? AND eref = ?');
  const setReachable = db.prepare<[number, string, string], { eref: string }>(
    'UPDATE clist SET reachable = ? WHERE endpoint = ? AND kref = ? RETURNING eref',
  );
  const remove = db.prepare<[string, string], { eref: string }>('DELETE FROM clist WHERE endpoint = ? AND kref = ? RETURNING eref');
  /** Both ways into `entry` (of `endpoint`, `kref` and `eref`) now say `entry`: undefined once it is deleted. */
  const keep = (endpoint: EndpointId, kref: KRef, eref: string, entry: CListEntry | undefined) => {
    cache.set(krefKey(endpoint, kref), entry);
    cache.set(erefKey(endpoint, eref), entry);
  };
  const forEndpoint = db.prepare<[string], Row>('SELECT * FROM clist WHERE endpoint = ? ORDER BY kref');
  const forKref = db.prepare<[string], Row>('SELECT * FROM clist WHERE kref = ? ORDER BY endpoint');

  return {
    add(endpoint: EndpointId, kref: KRef, eref: string, reachable: boolean): void {
      insert.run(endpoint, kref, eref, reachable ? 1 : 0);
      keep(endpoint, kref, eref, { endpoint, kref, eref, reachable });
    },
    byKref(endpoint: EndpointId, kref: KRef): CListEntry | undefined {
      return cache.get(krefKey(endpoint, kref), () => {
        const row = byKref.get(endpoint, kref);
        return row && toEntry(row);
      });
    },
    byEref(endpoint: EndpointId, eref: string): CListEntry | undefined {
      return cache.get(erefKey(endpoint, eref), () => {
        const row = byEref.get(endpoint, eref);
        return row && toEntry(row);
      });
    },
    setReachable(endpoint: EndpointId, kref: KRef, reachable: boolean): void {
      const row = setReachable.get(reachable ? 1 : 0, endpoint, kref);
      if (row !== undefined) keep(endpoint, kref, row.eref, { endpoint, kref, eref: row.eref, reachable });
    },
    delete(endpoint: EndpointId, kref: KRef): void {
      const row = remove.get(endpoint, kref);
      if (row !== undefined) keep(endpoint, kref, row.eref, undefined);
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
