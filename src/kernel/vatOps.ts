import type { KernelStore } from '../store/index.js';
import type { NewVatOp, VatOp } from '../store/vatOps.js';
import type { VatState } from '../store/vats.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import type { CapData, KPromiseRef, KRef } from '../store/types.js';
import type { VatBundle } from '../vats/bundles.js';
import type { KernelContext } from './context.js';
import { rejectPromise, resolvePromise } from './resolve.js';
import { parseVatRef } from './vatRefs.js';

/**
 * Vat operations (create, upgrade, terminate) are two steps, each
 * committed: a crank queues the operation (a `vat_ops` row, with the
 * bundle it needs and the promise its asker waits on), and a later crank
 * of its own carries it out and deletes the row (Kernel#vatOpCrank). A
 * crash before the first commit loses the request (its asker heard
 * nothing, and asks again); a crash between them leaves the row, which
 * the next start carries out before anything else runs; a crash after
 * the second leaves the operation done once. So an operation is never
 * done twice, and never half done: the crank that carries it out commits
 * whole or not at all (a new version that fails to start aborts it, and
 * the previous version runs on).
 */

/** An operation as its asker gives it: a {@link NewVatOp} without its result promise. */
export type VatOpRequest = NewVatOp extends infer Op ? (Op extends NewVatOp ? Omit<Op, 'result'> : never) : never;

/**
 * Queues `request` inside the crank in progress; `bundle` (for a create or
 * an upgrade) is stored with it. The operation holds what it names until it
 * is carried out: `result`, and a create's parameters.
 */
export function queueVatOp(context: KernelContext, request: VatOpRequest, result: KPromiseRef | null, bundle?: VatBundle): void {
  const { store, refs } = context;
  if (bundle !== undefined) store.vats.putBundle(bundle.hash, bundle.json);
  if (result !== null) refs.incref(result);
  if (request.kind === 'create') refs.increfData(request.parameters);
  store.vatOps.add({ ...request, result } as NewVatOp);
}

/**
 * Ends `op` inside the crank that carries it out (or that records its
 * failure): the row goes, its result settles with `outcome`, and what it
 * held is released.
 */
export function finishVatOp(context: KernelContext, op: VatOp, outcome: { value: CapData<KRef> } | { refusal: string }): void {
  const { store, refs } = context;
  store.vatOps.remove(op.id);
  if (op.kind === 'create') refs.decrefData(op.parameters);
  if (op.kind !== 'terminate' && 'refusal' in outcome) store.vats.dropBundleIfUnused(op.bundleHash);
  if (op.result === null) return;
  if ('value' in outcome) resolvePromise(context, op.result, false, outcome.value);
  else rejectPromise(context, op.result, outcome.refusal);
  refs.decref(op.result);
}

/** A vat as its operator and the vat-admin service see it. */
export interface VatSummary {
  name: string;
  vatId: string;
  state: VatState;
  /** Why it is failed or terminated; null while it is live. */
  reason: string | null;
  runtime: VatRuntime;
}

/** Every vat the store holds, oldest first. */
export function vatSummaries(store: KernelStore): VatSummary[] {
  return store.vats.all().map((vat) => ({
    name: vat.name,
    vatId: vat.vatId,
    state: vat.state,
    reason: vat.state === 'live' ? null : vat.reason,
    runtime: vat.runtime,
  }));
}

/** What terminating a vat deletes: what its operator is shown before confirming. */
export interface VatFootprint extends VatSummary {
  /** Entries of its vatstore: its baggage, durable stores and objects' state. */
  vatstoreEntries: number;
  /** Objects it exports (its root included), and how many of them are durable: all lost to whoever holds them. */
  exportedObjects: number;
  durableObjects: number;
  /** Objects of others it holds. */
  importedObjects: number;
  /** Promises it decides, rejected at its end. */
  decidedPromises: number;
}

/** What the vat called `name` holds; undefined if there is none. */
export function vatFootprint(store: KernelStore, name: string): VatFootprint | undefined {
  const summary = vatSummaries(store).find((vat) => vat.name === name);
  const record = store.vats.getByName(name);
  if (summary === undefined || record === undefined) return undefined;
  let exportedObjects = 0;
  let durableObjects = 0;
  let importedObjects = 0;
  for (const entry of store.clist.entriesOf(record.vatId)) {
    const parsed = parseVatRef(entry.eref);
    if (parsed?.kind !== 'object') continue;
    if (!parsed.allocatedByVat) importedObjects += 1;
    else {
      exportedObjects += 1;
      if (parsed.durable) durableObjects += 1;
    }
  }
  return {
    ...summary,
    vatstoreEntries: store.vatstore.count(record.vatId),
    exportedObjects,
    durableObjects,
    importedObjects,
    decidedPromises: store.promises.decidedBy(record.vatId).length,
  };
}
