import type { SqliteDatabase } from './db.js';
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

/** Kernel objects (`koN`): owner and reference counts. */
export function makeObjectStore(db: SqliteDatabase, allocate: () => number) {
  const insert = db.prepare<[string, string]>('INSERT INTO kernel_objects (kref, owner) VALUES (?, ?)');
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_objects WHERE kref = ?');
  const adjust = db.prepare<[number, number, string], { reachable: number; recognizable: number }>(
    `UPDATE kernel_objects SET reachable = reachable + ?, recognizable = recognizable + ?
     WHERE kref = ? RETURNING reachable, recognizable`,
  );
  const lose = db.prepare<[string, string]>(
    'UPDATE kernel_objects SET owner = NULL, lost_reason = ? WHERE kref = ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM kernel_objects WHERE kref = ?');
  const ownedBy = db.prepare<[string], { kref: KObjectRef }>(
    'SELECT kref FROM kernel_objects WHERE owner = ? ORDER BY kref',
  );

  return {
    create(owner: ObjectOwner): KObjectRef {
      const kref: KObjectRef = `ko${allocate()}`;
      insert.run(kref, owner);
      return kref;
    },
    get(kref: KObjectRef): KernelObjectRow | undefined {
      const row = select.get(kref);
      return row && {
        kref: row.kref,
        owner: row.owner,
        lostReason: row.lost_reason,
        reachable: row.reachable,
        recognizable: row.recognizable,
      };
    },
    /** Adds the deltas to the counts; returns the new counts (undefined if the object is gone). */
    adjustCounts(kref: KObjectRef, reachable: number, recognizable: number) {
      return adjust.get(reachable, recognizable, kref);
    },
    /** The owner is gone (its vat restarted, terminated, or abandoned it): sends will reject. */
    markLost(kref: KObjectRef, reason: string): void {
      lose.run(reason, kref);
    },
    delete(kref: KObjectRef): void {
      remove.run(kref);
    },
    ownedBy(owner: EndpointId): KObjectRef[] {
      return ownedBy.all(owner).map((row) => row.kref);
    },
  };
}

export type ObjectStore = ReturnType<typeof makeObjectStore>;
