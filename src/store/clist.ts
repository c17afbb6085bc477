import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import { HighestRefs } from './highestRefs.js';
import { unknown } from './pendingTable.js';
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

/** An entry's key in the pending table: endpoint and kref (the primary key). */
const krefKey = (endpoint: EndpointId, kref: KRef) => `${endpoint} ${kref}`;
/** A key of the index by endpoint ref. */
const erefKey = (endpoint: EndpointId, eref: string) => `${endpoint} ${eref}`;

/**
 * Per-endpoint translation tables: kref <-> endpoint ref (vref for vats).
 * Entries write at the COMMIT (pendingTable.ts): the entries of a
 * message's result promise are added and deleted within a few cranks. The
 * index by endpoint ref is a second pending table over the same rows, of
 * krefs by endpoint ref: SQLite keeps its own (`clist_by_eref`), so it
 * writes nothing.
 */
export function makeCListStore(db: SqliteDatabase, tx: TransactionControl, isNewRef: (kref: KRef) => boolean) {
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO clist (endpoint, kref, eref, reachable) VALUES (?, ?, ?, ?)',
  );
  const byKref = db.prepare<[string, string], Row>('SELECT * FROM clist WHERE endpoint = ? AND kref = ?');
  const byEref = db.prepare<[string, string], { kref: KRef }>('SELECT kref FROM clist WHERE endpoint = ? AND eref = ?');
  const remove = db.prepare<[string, string]>('DELETE FROM clist WHERE endpoint = ? AND kref = ?');
  const forEndpoint = db.prepare<[string], Row>('SELECT * FROM clist WHERE endpoint = ?');
  const forKref = db.prepare<[string], Row>('SELECT * FROM clist WHERE kref = ?');
  const highestKrefs = new HighestRefs(db, 'kref');
  const highestErefs = new HighestRefs(db, 'eref');
  const entries = tx.newPendingTable<string, CListEntry>(
    (key) => {
      const [endpoint = '', kref = ''] = key.split(' ');
      // A kref made since the COMMIT is in no c-list SQLite holds, nor one numbered above the endpoint's highest.
      if (isNewRef(kref as KRef) || highestKrefs.isAbove(endpoint as EndpointId, kref)) return undefined;
      const row = byKref.get(endpoint, kref);
      return row && toEntry(row);
    },
    (changed) => {
      // Every stored row that changed goes first, then every entry there is
      // now: the index by endpoint ref is unique, and an entry deleted and
      // added again in one group may have moved an eref from one kref to another.
      for (const [key, { stored }] of changed) {
        if (!stored) continue;
        const [endpoint = '', kref = ''] = key.split(' ');
        remove.run(endpoint, kref);
      }
      for (const { value: entry } of changed.values()) {
        if (entry === undefined) continue;
        insert.run(entry.endpoint, entry.kref, entry.eref, entry.reachable ? 1 : 0);
        highestKrefs.written(entry.endpoint, entry.kref);
        highestErefs.written(entry.endpoint, entry.eref);
      }
    },
  );
  const krefsByEref = tx.newPendingTable<string, KRef>(
    (key) => {
      const space = key.indexOf(' ');
      const endpoint = key.slice(0, space) as EndpointId;
      const eref = key.slice(space + 1);
      // A ref just allocated (a vat's new export, a peer's) is numbered above every one SQLite holds.
      return highestErefs.isAbove(endpoint, eref) ? undefined : byEref.get(endpoint, eref)?.kref;
    },
    () => {},
  );
  /** `rows` from SQLite, with what changed since the COMMIT in their place, and the changed entries `matches` keeps. */
  const merged = (rows: Row[], matches: (entry: CListEntry) => boolean): CListEntry[] => {
    const changed = entries.changedRows();
    const result = rows.filter((row) => !changed.has(krefKey(row.endpoint, row.kref))).map(toEntry);
    for (const { value: entry } of changed.values()) if (entry !== undefined && matches(entry)) result.push(entry);
    return result;
  };
  const inOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

  return {
    /**
     * Adds an entry the caller knows is new (it looked both ways up, or made
     * the ref). Checked against what is known without asking SQLite; should
     * SQLite hold either way in already, its unique keys refuse the COMMIT.
     */
    add(endpoint: EndpointId, kref: KRef, eref: string, reachable: boolean): void {
      assert(entries.known(krefKey(endpoint, kref)) === undefined || entries.known(krefKey(endpoint, kref)) === unknown, `${endpoint} has ${kref} in its c-list already`);
      assert(krefsByEref.known(erefKey(endpoint, eref)) === undefined || krefsByEref.known(erefKey(endpoint, eref)) === unknown, `${endpoint} has ${eref} in its c-list already`);
      entries.set(krefKey(endpoint, kref), { endpoint, kref, eref, reachable }, false);
      krefsByEref.set(erefKey(endpoint, eref), kref, false);
    },
    byKref(endpoint: EndpointId, kref: KRef): CListEntry | undefined {
      return entries.get(krefKey(endpoint, kref));
    },
    byEref(endpoint: EndpointId, eref: string): CListEntry | undefined {
      const kref = krefsByEref.get(erefKey(endpoint, eref));
      return kref === undefined ? undefined : entries.get(krefKey(endpoint, kref));
    },
    setReachable(endpoint: EndpointId, kref: KRef, reachable: boolean): void {
      const entry = entries.get(krefKey(endpoint, kref));
      if (entry !== undefined && entry.reachable !== reachable) entries.set(krefKey(endpoint, kref), { ...entry, reachable });
    },
    delete(endpoint: EndpointId, kref: KRef): void {
      const entry = entries.get(krefKey(endpoint, kref));
      if (entry === undefined) return;
      entries.set(krefKey(endpoint, kref), undefined);
      krefsByEref.set(erefKey(endpoint, entry.eref), undefined);
    },
    entriesOf(endpoint: EndpointId): CListEntry[] {
      return merged(forEndpoint.all(endpoint), (entry) => entry.endpoint === endpoint).sort((a, b) => inOrder(a.kref, b.kref));
    },
    /** Every endpoint that has `kref` in its c-list. */
    holdersOf(kref: KRef): CListEntry[] {
      return merged(forKref.all(kref), (entry) => entry.kref === kref).sort((a, b) => inOrder(a.endpoint, b.endpoint));
    },
  };
}

export type CListStore = ReturnType<typeof makeCListStore>;
