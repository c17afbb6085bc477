import { assert, assertNever } from '../util/assert.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { CapData, KPromiseRef, KRef } from './types.js';

/**
 * A vat operation asked for and not yet carried out. Each is committed
 * before it runs, and deleted by the crank that carries it out, so that
 * whatever instant a crash comes at, the operation is done once or is
 * still to do (kernel/vatOps.ts). `result`, if any, is the promise that
 * settles when it is done: the asker's (a host waiter, a vat's result).
 */
export type VatOp =
  | { id: number; kind: 'create'; vatName: string; bundleHash: string; runtime: VatRuntime; parameters: CapData<KRef>; result: KPromiseRef | null }
  | { id: number; kind: 'upgrade'; vatName: string; bundleHash: string; result: KPromiseRef | null }
  | { id: number; kind: 'terminate'; vatName: string; reason: string; result: KPromiseRef | null };

/** An operation to queue: a {@link VatOp} without its id. */
export type NewVatOp = VatOp extends infer Op ? (Op extends VatOp ? Omit<Op, 'id'> : never) : never;

interface Row {
  id: number;
  kind: VatOp['kind'];
  vat_name: string;
  bundle_hash: string | null;
  runtime: VatRuntime | null;
  parameters: string | null;
  reason: string | null;
  result: KPromiseRef | null;
}

function toOp(row: Row): VatOp {
  const base = { id: row.id, vatName: row.vat_name, result: row.result };
  switch (row.kind) {
    case 'create':
      assert(row.bundle_hash !== null && row.runtime !== null && row.parameters !== null, `vat op ${row.id} (create) lacks its bundle, runtime or parameters`);
      return { ...base, kind: 'create', bundleHash: row.bundle_hash, runtime: row.runtime, parameters: JSON.parse(row.parameters) as CapData<KRef> };
    case 'upgrade':
      assert(row.bundle_hash !== null, `vat op ${row.id} (upgrade) lacks its bundle`);
      return { ...base, kind: 'upgrade', bundleHash: row.bundle_hash };
    case 'terminate':
      assert(row.reason !== null, `vat op ${row.id} (terminate) lacks its reason`);
      return { ...base, kind: 'terminate', reason: row.reason };
    default:
      return assertNever(row.kind, 'vat op kind');
  }
}

/**
 * The queue of vat operations, FIFO. It is looked at before every crank
 * and is nearly always empty: once a look finds it empty it is not read
 * again until an operation is added or SQLite undoes writes.
 */
export function makeVatOpStore(db: SqliteDatabase, tx: TransactionControl) {
  let mayHoldOps = true;
  tx.onUndo(() => {
    mayHoldOps = true;
  });
  const insert = tx.direct(db.prepare<[string, string, string | null, string | null, string | null, string | null, string | null]>(
    'INSERT INTO vat_ops (kind, vat_name, bundle_hash, runtime, parameters, reason, result) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ));
  const first = db.prepare<[], Row>('SELECT * FROM vat_ops ORDER BY id LIMIT 1');
  const all = db.prepare<[], Row>('SELECT * FROM vat_ops ORDER BY id');
  const remove = tx.direct(db.prepare<[number]>('DELETE FROM vat_ops WHERE id = ?'));

  return {
    /** Queues `op`; part of the caller's transaction. */
    add(op: NewVatOp): number {
      const bundleHash = op.kind === 'terminate' ? null : op.bundleHash;
      const runtime = op.kind === 'create' ? op.runtime : null;
      const parameters = op.kind === 'create' ? JSON.stringify(op.parameters) : null;
      const reason = op.kind === 'terminate' ? op.reason : null;
      const { lastInsertRowid } = insert.run(op.kind, op.vatName, bundleHash, runtime, parameters, reason, op.result);
      mayHoldOps = true;
      return Number(lastInsertRowid);
    },
    /** The oldest operation not yet carried out. */
    peek(): VatOp | undefined {
      if (!mayHoldOps) return undefined;
      const row = first.get();
      if (row === undefined) mayHoldOps = false;
      return row && toOp(row);
    },
    /** Every operation waiting, oldest first. */
    all(): VatOp[] {
      return all.all().map(toOp);
    },
    remove(id: number): void {
      const { changes } = remove.run(id);
      assert(changes === 1, `removal of vat op ${id}, which is not queued`);
    },
  };
}

export type VatOpStore = ReturnType<typeof makeVatOpStore>;
