import type { CapData, KernelMessage, KPromiseRef, KRef, VatId } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { KernelContext } from './context.js';
import { IllegalSyscallError } from './errors.js';
import { importVatRef, parseVatRef } from './vatRefs.js';

/**
 * Translation between a vat's refs (vrefs) and kernel refs through the vat's
 * c-list. Outbound (vat to kernel) refs must already be in the c-list or be a
 * new export of the vat's own; anything else is an illegal syscall. Inbound
 * (kernel to vat) refs get a new import vref the first time.
 */
export function makeVatTranslator(context: KernelContext, vatId: VatId) {
  const { store, refs } = context;

  /**
   * vref -> kref for a syscall; creates the kernel object or promise for a
   * new export (a new promise is decided by the vat unless `newPromiseDecider` says otherwise).
   */
  function toKref(vref: string, newPromiseDecider: VatId | null = vatId): KRef {
    const entry = store.clist.byEref(vatId, vref);
    const parsed = parseVatRef(vref);
    if (entry !== undefined) {
      if (parsed?.kind === 'object' && parsed.allocatedByVat && !entry.reachable) {
        // The vat re-exports an object the kernel had dropped: reachable again.
        store.clist.setReachable(vatId, entry.kref, true);
      }
      return entry.kref;
    }
    // A promise the kernel forgot (resolved) may come back from the vat's
    // virtual data under its old vref, either sign: liveslots then decides it.
    if (parsed === undefined || (parsed.kind === 'object' && !parsed.allocatedByVat)) {
      throw new IllegalSyscallError(`vat ${vatId} used ${JSON.stringify(vref)}, which is not in its c-list`);
    }
    if (parsed.kind === 'object') {
      const kref = store.objects.create(vatId);
      store.clist.add(vatId, kref, vref, true);
      return kref;
    }
    const kpid = store.promises.create(newPromiseDecider);
    store.clist.add(vatId, kpid, vref, true);
    refs.incref(kpid);
    return kpid;
  }

  /** kref -> vref for a delivery; imports the ref into the vat if it is new there. */
  function toVref(kref: KRef): string {
    const entry = store.clist.byKref(vatId, kref);
    if (entry !== undefined) {
      const parsed = parseVatRef(entry.eref);
      assert(parsed !== undefined, `bad vref ${entry.eref} in c-list of ${vatId}`);
      if (parsed.kind === 'object' && !parsed.allocatedByVat && !entry.reachable) {
        // The vat had dropped this import and now receives it again.
        store.clist.setReachable(vatId, kref, true);
        store.objects.adjustCounts(kref as `ko${number}`, 1, 0);
      }
      return entry.eref;
    }
    const kind = kref.startsWith('ko') ? 'object' : 'promise';
    const vref = importVatRef(kind, store.vats.allocateImportNumber(vatId, kind));
    store.clist.add(vatId, kref, vref, true);
    refs.incref(kref);
    return vref;
  }

  return {
    toKref,
    toVref,
    dataToKernel: (data: CapData): CapData<KRef> => ({ body: data.body, slots: data.slots.map((slot) => toKref(slot)) }),
    dataToVat: (data: CapData<KRef>): CapData => ({ body: data.body, slots: data.slots.map(toVref) }),
    messageToVat: (message: KernelMessage) => ({
      methargs: { body: message.methargs.body, slots: message.methargs.slots.map(toVref) },
      result: message.result === null ? null : toVref(message.result),
    }),
    /** Removes the vat's c-list entry for a promise it no longer tracks (resolved, notified). */
    forgetPromise(kpid: KPromiseRef): void {
      if (store.clist.byKref(vatId, kpid) !== undefined) {
        store.clist.delete(vatId, kpid);
        refs.decref(kpid);
      }
    },
  };
}

export type VatTranslator = ReturnType<typeof makeVatTranslator>;
