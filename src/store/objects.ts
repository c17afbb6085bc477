import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { RowCache } from './rowCache.js';
import type { EndpointId, KObjectRef, ObjectOwner } from './types.js';

export interface KernelObjectRow {
  kref: KObjectRef;
  /** The exporter, or null once the object is lost. */
  owner: ObjectOwner | null;
  lostReason: string | null;
  reachable: number;
  recognizable: number;
}

interface Row {
  kref: KObjectRef;
  owner: ObjectOwner | null;
  lost_reason: string | null;
  reachable: number;
  recognizable: number;
}

/**
 * Kernel objects (`koN`): owner and reference counts. Records are cached
 * (rowCache.ts). Counts change with every message that names an object (a
 * burst of 10,000 sends to one object changes its counts 10,000 times in one
 * crank): inside a crank they change in memory and each changed object's
 * counts are written once, at the crank's end, as promise refcounts are
 * (promises.ts); the cached record always holds the current counts.
 */
export function makeObjectStore(db: SqliteDatabase, allocate: () => number, cache: RowCache<KObjectRef, KernelObjectRow>, tx: TransactionControl) {
  const insert = db.prepare<[string, string]>('INSERT INTO kernel_objects (kref, owner) VALUES (?, ?)');
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_objects WHERE kref = ?');
  const setCounts = db.prepare<[number, number, string]>('UPDATE kernel_objects SET reachable = ?, recognizable = ? WHERE kref = ?');
  /** Counts changed in the crank in progress, not written yet. */
  const pendingCounts = new Map<KObjectRef, { reachable: number; recognizable: number }>();
  tx.deferToCrankEnd(() => {
    for (const [kref, counts] of pendingCounts) {
      const { changes } = setCounts.run(counts.reachable, counts.recognizable, kref);
      assert(changes === 1, `counts of missing ${kref}`);
    }
    pendingCounts.clear();
  });
  tx.onUndo(() => pendingCounts.clear());
  const lose = db.prepare<[string, string]>(
    'UPDATE kernel_objects SET owner = NULL, lost_reason = ? WHERE kref = ?',
  );
  const read = (kref: KObjectRef): KernelObjectRow | undefined => {
    const row = select.get(kref);
    if (row === undefined) return undefined;
    // The row's counts may be behind ones changed in this crank (the cache started over meanwhile).
    const counts = pendingCounts.get(kref) ?? row;
    return { kref: row.kref, owner: row.owner, lostReason: row.lost_reason, reachable: counts.reachable, recognizable: counts.recognizable };
  };
  const remove = db.prepare<[string]>('DELETE FROM kernel_objects WHERE kref = ?');
  const ownedBy = db.prepare<[string], { kref: KObjectRef }>(
    'SELECT kref FROM kernel_objects WHERE owner = ? ORDER BY kref',
  );

  return {
    create(owner: ObjectOwner): KObjectRef {
      const kref: KObjectRef = `ko${allocate()}`;
      insert.run(kref, owner);
      cache.set(kref, { kref, owner, lostReason: null, reachable: 0, recognizable: 0 });
      return kref;
    },
    get(kref: KObjectRef): KernelObjectRow | undefined {
      return cache.get(kref, () => read(kref));
    },
    /** Adds the deltas to the counts; returns the new counts (undefined if the object is gone). Written at the crank's end, or at once outside a crank. */
    adjustCounts(kref: KObjectRef, reachable: number, recognizable: number): { reachable: number; recognizable: number } | undefined {
      const known = cache.get(kref, () => read(kref));
      if (known === undefined) return undefined;
      const counts = { reachable: known.reachable + reachable, recognizable: known.recognizable + recognizable };
      assert(counts.reachable >= 0 && counts.recognizable >= counts.reachable, `counts of ${kref} would be ${counts.reachable} reachable, ${counts.recognizable} recognizable: CHECK constraint`);
      if (tx.inCrank) pendingCounts.set(kref, counts);
      else setCounts.run(counts.reachable, counts.recognizable, kref);
      cache.set(kref, { ...known, ...counts });
      return counts;
    },
    /** The owner is gone (its vat restarted, terminated, or abandoned it): sends will reject. */
    markLost(kref: KObjectRef, reason: string): void {
      lose.run(reason, kref);
      const known = cache.peek(kref);
      if (known !== undefined) cache.set(kref, { ...known, owner: null, lostReason: reason });
    },
    delete(kref: KObjectRef): void {
      pendingCounts.delete(kref);
      remove.run(kref);
      cache.set(kref, undefined);
    },
    ownedBy(owner: EndpointId): KObjectRef[] {
      return ownedBy.all(owner).map((row) => row.kref);
    },
  };
}

export type ObjectStore = ReturnType<typeof makeObjectStore>;
