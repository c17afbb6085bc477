import type { SqliteDatabase } from './db.js';
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

/** Kernel objects (`koN`): owner and reference counts. Records are cached (rowCache.ts). */
export function makeObjectStore(db: SqliteDatabase, allocate: () => number, cache: RowCache<KObjectRef, KernelObjectRow>) {
  const insert = db.prepare<[string, string]>('INSERT INTO kernel_objects (kref, owner) VALUES (?, ?)');
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_objects WHERE kref = ?');
  const adjust = db.prepare<[number, number, string], { reachable: number; recognizable: number }>(
    `UPDATE kernel_objects SET reachable = reachable + ?, recognizable = recognizable + ?
     WHERE kref = ? RETURNING reachable, recognizable`,
  );
  const lose = db.prepare<[string, string]>(
    'UPDATE kernel_objects SET owner = NULL, lost_reason = ? WHERE kref = ?',
  );
  const read = (kref: KObjectRef): KernelObjectRow | undefined => {
    const row = select.get(kref);
    return row && { kref: row.kref, owner: row.owner, lostReason: row.lost_reason, reachable: row.reachable, recognizable: row.recognizable };
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
    /** Adds the deltas to the counts; returns the new counts (undefined if the object is gone). */
    adjustCounts(kref: KObjectRef, reachable: number, recognizable: number) {
      const counts = adjust.get(reachable, recognizable, kref);
      const known = cache.peek(kref);
      if (counts === undefined) cache.set(kref, undefined);
      else if (known !== undefined) cache.set(kref, { ...known, reachable: counts.reachable, recognizable: counts.recognizable });
      return counts;
    },
    /** The owner is gone (its vat restarted, terminated, or abandoned it): sends will reject. */
    markLost(kref: KObjectRef, reason: string): void {
      lose.run(reason, kref);
      const known = cache.peek(kref);
      if (known !== undefined) cache.set(kref, { ...known, owner: null, lostReason: reason });
    },
    delete(kref: KObjectRef): void {
      remove.run(kref);
      cache.set(kref, undefined);
    },
    ownedBy(owner: EndpointId): KObjectRef[] {
      return ownedBy.all(owner).map((row) => row.kref);
    },
  };
}

export type ObjectStore = ReturnType<typeof makeObjectStore>;
