import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import type { CapData, KRef, VatId } from './types.js';

/**
 * A vat's record. `live`: it runs. `failed`: a fault of its own (an illegal
 * syscall, a delivery its runtime could not complete, a failed restart)
 * stopped it; its vatstore, c-list and durable objects stay, and the next
 * start tries it again. `terminated`: it ended for good (it asked to exit),
 * its state is deleted; only the record and the reason stay.
 */
export type VatRecord =
  | { vatId: VatId; name: string; runtime: VatRuntime; bundleHash: string; parameters: CapData<KRef>; state: 'live' }
  | { vatId: VatId; name: string; runtime: VatRuntime; bundleHash: string; parameters: CapData<KRef>; state: 'failed' | 'terminated'; reason: string };

export type VatState = VatRecord['state'];

interface Row {
  vat_id: VatId;
  name: string;
  runtime: VatRuntime;
  bundle_hash: string;
  parameters: string;
  state: VatState;
  state_reason: string | null;
}

function toRecord(row: Row): VatRecord {
  const base = {
    vatId: row.vat_id,
    name: row.name,
    runtime: row.runtime,
    bundleHash: row.bundle_hash,
    parameters: frozenCapData(JSON.parse(row.parameters) as CapData<KRef>),
  };
  return row.state === 'live' ? { ...base, state: 'live' } : { ...base, state: row.state, reason: row.state_reason ?? '' };
}

/** Capdata as a cached record holds it, frozen (a store of schema v6 or older may hold `{}`: kept as it is). */
function frozenCapData(data: CapData<KRef>): CapData<KRef> {
  if (Array.isArray(data.slots)) Object.freeze(data.slots);
  return Object.freeze(data);
}

/** Vat records, their per-vat ref counters, and the bundles they run. Records are cached by vat id (rowCache.ts). */
export function makeVatStore(db: SqliteDatabase, allocate: () => number, tx: TransactionControl) {
  const cache = tx.newCache<VatId, VatRecord>();
  const putBundle = tx.direct(db.prepare<[string, string]>('INSERT OR IGNORE INTO bundles (hash, bundle) VALUES (?, ?)'));
  const getBundle = db.prepare<[string], { bundle: string }>('SELECT bundle FROM bundles WHERE hash = ?');
  const dropUnusedBundle = tx.direct(db.prepare<[{ hash: string }]>(
    `DELETE FROM bundles WHERE hash = @hash
       AND NOT EXISTS (SELECT 1 FROM vats WHERE bundle_hash = @hash)
       AND NOT EXISTS (SELECT 1 FROM vat_ops WHERE bundle_hash = @hash)`,
  ));
  const insert = tx.direct(db.prepare<[string, string, string, string, string]>(
    "INSERT INTO vats (vat_id, name, runtime, bundle_hash, parameters, state) VALUES (?, ?, ?, ?, ?, 'live')",
  ));
  const byId = db.prepare<[string], Row>('SELECT * FROM vats WHERE vat_id = ?');
  const byName = db.prepare<[string], Row>('SELECT * FROM vats WHERE name = ?');
  const all = db.prepare<[], Row>('SELECT * FROM vats ORDER BY CAST(SUBSTR(vat_id, 2) AS INTEGER)');
  // A vat is terminated from any state but terminated; it fails while live (or fails again, with a new reason); it is live again only after failing.
  const terminate = tx.direct(db.prepare<[string, string]>(
    "UPDATE vats SET state = 'terminated', state_reason = ? WHERE vat_id = ? AND state != 'terminated'",
  ));
  const fail = tx.direct(db.prepare<[string, string]>("UPDATE vats SET state = 'failed', state_reason = ? WHERE vat_id = ? AND state IN ('live', 'failed')"));
  const revive = tx.direct(db.prepare<[string]>("UPDATE vats SET state = 'live', state_reason = NULL WHERE vat_id = ? AND state = 'failed'"));
  const selectCounters = db.prepare<[string], { object: number; promise: number }>('SELECT next_object_id AS object, next_promise_id AS promise FROM vats WHERE vat_id = ?');
  const writeCounters = db.prepare<[number, number, string]>('UPDATE vats SET next_object_id = ?, next_promise_id = ? WHERE vat_id = ?');
  /** Each vat's next import numbers, written at the COMMIT (pendingTable.ts): a message's result promise takes one. */
  const counters = tx.newPendingTable<VatId, { object: number; promise: number }>(
    (vatId) => selectCounters.get(vatId),
    (changed) => {
      for (const [vatId, { value }] of changed) {
        assert(value !== undefined, `counters of ${vatId} deleted`);
        const { changes } = writeCounters.run(value.object, value.promise, vatId);
        assert(changes === 1, `counters of missing ${vatId}`);
      }
    },
  );
  const setBundle = tx.direct(db.prepare<[string, string]>("UPDATE vats SET bundle_hash = ? WHERE vat_id = ? AND state IN ('live', 'failed')"));

  return {
    putBundle(hash: string, bundle: string): void {
      putBundle.run(hash, bundle);
    },
    getBundle(hash: string): string | undefined {
      return getBundle.get(hash)?.bundle;
    },
    /** Deletes a bundle no vat runs and no vat operation waits to use (one a refused create brought, one an upgrade replaced). */
    dropBundleIfUnused(hash: string): void {
      dropUnusedBundle.run({ hash });
    },
    create(name: string, runtime: VatRuntime, bundleHash: string, parameters: CapData<KRef>): VatId {
      const vatId: VatId = `v${allocate()}`;
      insert.run(vatId, name, runtime, bundleHash, JSON.stringify(parameters));
      cache.set(vatId, { vatId, name, runtime, bundleHash, parameters: frozenCapData({ body: parameters.body, slots: [...parameters.slots] }), state: 'live' });
      return vatId;
    },
    get(vatId: VatId): VatRecord | undefined {
      return cache.get(vatId, () => {
        const row = byId.get(vatId);
        return row && toRecord(row);
      });
    },
    getByName(name: string): VatRecord | undefined {
      const row = byName.get(name);
      return row && toRecord(row);
    },
    all(): VatRecord[] {
      return all.all().map(toRecord);
    },
    markTerminated(vatId: VatId, reason: string): void {
      const { changes } = terminate.run(reason, vatId);
      assert(changes === 1, `terminate of missing or terminated ${vatId}`);
      cache.forget(vatId);
    },
    markFailed(vatId: VatId, reason: string): void {
      const { changes } = fail.run(reason, vatId);
      assert(changes === 1, `fail of ${vatId}, which is missing or terminated`);
      cache.forget(vatId);
    },
    /** A failed vat restarted: it runs again. */
    markLive(vatId: VatId): void {
      const { changes } = revive.run(vatId);
      assert(changes === 1, `revival of ${vatId}, which is missing or not failed`);
      cache.forget(vatId);
    },
    /** A vat runs another bundle from now on (an upgrade); the bundle must be stored. */
    setBundle(vatId: VatId, bundleHash: string): void {
      const { changes } = setBundle.run(bundleHash, vatId);
      assert(changes === 1, `new bundle for ${vatId}, which is missing or terminated`);
      cache.forget(vatId);
    },
    /** Next import ref number for kernel refs entering the vat (`o-N` / `p-N`). */
    allocateImportNumber(vatId: VatId, kind: 'object' | 'promise'): number {
      const next = counters.get(vatId);
      assert(next !== undefined, `allocate on missing ${vatId}`);
      counters.set(vatId, { ...next, [kind]: next[kind] + 1 });
      return next[kind];
    },
  };
}

export type VatStore = ReturnType<typeof makeVatStore>;
