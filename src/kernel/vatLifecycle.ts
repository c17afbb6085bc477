import type { CapData, KObjectRef, KPromiseRef, KRef, VatId } from '../store/types.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import { assert } from '../util/assert.js';
import type { KernelContext } from './context.js';
import { errorCapData } from './kmarshal.js';
import { resolvePromise } from './resolve.js';
import { parseVatRef, rootVatRef } from './vatRefs.js';

/**
 * Records a new vat: its bundle (stored already), its parameters (which
 * keep the refs they name alive for the vat's life), and its root object
 * `o+0`, which the kernel pins so it is never collected.
 */
export function recordNewVat(
  context: KernelContext,
  name: string,
  runtime: VatRuntime,
  bundleHash: string,
  parameters: CapData<KRef>,
): { vatId: VatId; root: KObjectRef } {
  const { store, refs } = context;
  const vatId = store.vats.create(name, runtime, bundleHash, parameters);
  refs.increfData(parameters);
  const root = store.objects.create(vatId);
  store.clist.add(vatId, root, rootVatRef, true);
  refs.incref(root);
  return { vatId, root };
}

/** The kref of a vat's root object. */
export function rootOf(context: KernelContext, vatId: VatId): KObjectRef {
  const entry = context.store.clist.byEref(vatId, rootVatRef);
  assert(entry !== undefined, `vat ${vatId} has no root object`);
  return entry.kref as KObjectRef;
}

/**
 * A vat's heap is gone (it restarts from its durable state, or it failed and
 * will): objects it exported that were not durable are lost (sends to them
 * reject with a clear reason), and the promises it was deciding are rejected.
 * Its root object stays: its runtime re-exports `o+0` on every start. `why`
 * completes "vat vN ..." in those reasons.
 */
export function forgetHeap(context: KernelContext, vatId: VatId, why: string): { lostObjects: number; rejectedPromises: number } {
  const { store, refs } = context;
  let lostObjects = 0;
  for (const entry of store.clist.entriesOf(vatId)) {
    const parsed = parseVatRef(entry.eref);
    assert(parsed !== undefined, `bad vref ${entry.eref} in c-list of ${vatId}`);
    if (parsed.kind === 'object' && parsed.allocatedByVat && !parsed.durable && !parsed.root) {
      store.clist.delete(vatId, entry.kref);
      store.objects.markLost(
        entry.kref as KObjectRef,
        `object ${entry.kref} was lost: vat ${vatId} ${why} and the object was not durable`,
      );
      refs.collectLater(entry.kref);
      lostObjects += 1;
    }
  }
  const decided = store.promises.decidedBy(vatId);
  for (const kpid of decided) {
    resolvePromise(context, kpid, true, errorCapData(`promise ${kpid} was lost: vat ${vatId}, its decider, ${why}`));
    forgetClistPromise(context, vatId, kpid);
  }
  return { lostObjects, rejectedPromises: decided.length };
}

function forgetClistPromise(context: KernelContext, vatId: VatId, kpid: KPromiseRef): void {
  if (context.store.clist.byKref(vatId, kpid) !== undefined) {
    context.store.clist.delete(vatId, kpid);
    context.refs.decref(kpid);
  }
}

/**
 * A vat stopped by a fault of its own: its heap is gone (as at a restart),
 * and it takes no deliveries until a start restarts it. Nothing durable is
 * deleted: vatstore, c-list entries of durable exports and imports, and
 * queued messages stay; messages sent to it meanwhile are rejected with the
 * reason (see `routeSend`).
 */
export function failVat(context: KernelContext, vatId: VatId, reason: string): void {
  const record = context.store.vats.get(vatId);
  assert(record?.state === 'live', `fail of ${vatId}, which is not live`);
  forgetHeap(context, vatId, `failed (${reason})`);
  context.store.vats.markFailed(vatId, reason);
}

/**
 * Ends a vat for good: its promises are rejected, its exports are lost, its
 * imports released, its vatstore deleted. The vat's record stays, with the
 * reason, so later sends to its objects reject with it.
 */
export function terminateVat(context: KernelContext, vatId: VatId, reason: string): void {
  const { store, refs } = context;
  const record = store.vats.get(vatId);
  assert(record !== undefined && record.state !== 'terminated', `terminate of ${vatId}, which is ${record?.state ?? 'missing'}`);
  store.vats.markTerminated(vatId, reason);
  const message = `vat ${vatId} (${record.name}) was terminated: ${reason}`;
  for (const kpid of store.promises.decidedBy(vatId)) {
    resolvePromise(context, kpid, true, errorCapData(message));
  }
  for (const entry of store.clist.entriesOf(vatId)) {
    const parsed = parseVatRef(entry.eref);
    assert(parsed !== undefined, `bad vref ${entry.eref} in c-list of ${vatId}`);
    store.clist.delete(vatId, entry.kref);
    if (parsed.kind === 'promise') {
      refs.decref(entry.kref);
    } else if (parsed.allocatedByVat) {
      store.objects.markLost(entry.kref as KObjectRef, message);
      refs.collectLater(entry.kref);
    } else {
      refs.decref(entry.kref, entry.reachable);
    }
  }
  refs.decrefData(record.parameters);
  store.promises.unsubscribeEverywhere(vatId);
  store.vatstore.deleteAll(vatId);
}
