import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
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
 * Kernel objects (`koN`): owner and reference counts. Records write at the
 * COMMIT (pendingTable.ts): counts change with every message that names an
 * object (a burst of 10,000 sends to one object changes its counts 10,000
 * times in one crank), and each changed object is written once per group.
 */
export function makeObjectStore(db: SqliteDatabase, allocate: () => number, tx: TransactionControl) {
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_objects WHERE kref = ?');
  const insert = db.prepare<[string, string | null, string | null, number, number]>(
    'INSERT INTO kernel_objects (kref, owner, lost_reason, reachable, recognizable) VALUES (?, ?, ?, ?, ?)',
  );
  const update = db.prepare<[string | null, string | null, number, number, string]>(
    'UPDATE kernel_objects SET owner = ?, lost_reason = ?, reachable = ?, recognizable = ? WHERE kref = ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM kernel_objects WHERE kref = ?');
  const ownedBy = db.prepare<[string], { kref: KObjectRef }>('SELECT kref FROM kernel_objects WHERE owner = ?');
  const records = tx.newPendingTable<KObjectRef, KernelObjectRow>(
    (kref) => {
      const row = select.get(kref);
      return row && { kref: row.kref, owner: row.owner, lostReason: row.lost_reason, reachable: row.reachable, recognizable: row.recognizable };
    },
    (changed) => {
      for (const [kref, { value: object, stored }] of changed) {
        if (object === undefined) {
          if (stored) remove.run(kref);
        } else if (stored) {
          const { changes } = update.run(object.owner, object.lostReason, object.reachable, object.recognizable, kref);
          assert(changes === 1, `write of ${kref}, which SQLite does not hold`);
        } else {
          insert.run(kref, object.owner, object.lostReason, object.reachable, object.recognizable);
        }
      }
    },
  );

  return {
    create(owner: ObjectOwner): KObjectRef {
      const kref: KObjectRef = `ko${allocate()}`;
      // A new id: SQLite holds nothing of it yet.
      records.set(kref, { kref, owner, lostReason: null, reachable: 0, recognizable: 0 }, false);
      return kref;
    },
    get(kref: KObjectRef): KernelObjectRow | undefined {
      return records.get(kref);
    },
    /** True for an object made since the last COMMIT: SQLite holds nothing that names it. */
    isNew(kref: KObjectRef): boolean {
      return records.isNew(kref);
    },
    /** Adds the deltas to the counts; returns the new counts (undefined if the object is gone). */
    adjustCounts(kref: KObjectRef, reachable: number, recognizable: number): { reachable: number; recognizable: number } | undefined {
      const known = records.get(kref);
      if (known === undefined) return undefined;
      const counts = { reachable: known.reachable + reachable, recognizable: known.recognizable + recognizable };
      assert(counts.reachable >= 0 && counts.recognizable >= counts.reachable, `counts of ${kref} would be ${counts.reachable} reachable, ${counts.recognizable} recognizable: CHECK constraint`);
      records.set(kref, { ...known, ...counts });
      return counts;
    },
    /** The owner is gone (its vat restarted, terminated, or abandoned it): sends will reject. */
    markLost(kref: KObjectRef, reason: string): void {
      const known = records.get(kref);
      if (known !== undefined) records.set(kref, { ...known, owner: null, lostReason: reason });
    },
    delete(kref: KObjectRef): void {
      records.set(kref, undefined);
    },
    ownedBy(owner: EndpointId): KObjectRef[] {
      const changed = records.changedRows();
      const owned = ownedBy
        .all(owner)
        .map((row) => row.kref)
        .filter((kref) => !changed.has(kref));
      for (const [kref, { value: object }] of changed) if (object?.owner === owner) owned.push(kref);
      // As SQLite orders them (text): callers mark them lost in this order.
      return owned.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}

export type ObjectStore = ReturnType<typeof makeObjectStore>;
