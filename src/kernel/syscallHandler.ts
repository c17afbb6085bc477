import type { CapData, KObjectRef, KPromiseRef, KRef, VatId } from '../store/types.js';
import type { VatCapData, VatResolution, VatSyscall } from '../vats/types.js';
import type { KernelContext } from './context.js';
import { IllegalSyscallError } from './errors.js';
import { resolvePromise } from './resolve.js';
import { parseVatRef } from './vatRefs.js';
import type { VatTranslator } from './vatTranslator.js';

/** What the syscalls of one crank decided beyond their direct effects. */
export interface SyscallRecord {
  /** Set by the first illegal syscall: the crank is undone and the vat fails. */
  illegal: string | null;
  /**
   * Set by the first syscall that failed for the kernel's own reason (a
   * storage error, a broken invariant), not the vat's: the vat may catch
   * it, but the kernel stops on it, and the vat is not blamed.
   */
  kernelFault: Error | null;
  /** Set by `exit`: the vat asked to be terminated. */
  exit: { failure: boolean; info: CapData<KRef> } | null;
  /** Time spent answering syscalls (kernel work inside the delivery), nanoseconds. */
  syscallNs: bigint;
}

/** Answers a vat's syscalls, crank by crank: {@link SyscallHandler.beginCrank} before each of its deliveries. */
export interface SyscallHandler {
  syscall: VatSyscall;
  /** A crank of the vat begins: what its syscalls decide goes to the record returned, a new one. */
  beginCrank(): SyscallRecord;
}

/**
 * Answers one vat's syscalls. Effects on kernel tables happen inside the
 * crank's savepoint; outputs for other endpoints go to the crank buffer.
 * An illegal syscall throws back into the vat and is recorded, so the
 * kernel fails the vat even if the vat catches the error. Made once per
 * vat, not per crank: its functions hold no state but the open crank's
 * record (the closures made per crank were 2.6 KB a delivery).
 */
export function makeSyscallHandler(context: KernelContext, vatId: VatId, translator: VatTranslator): SyscallHandler {
  const { store, buffer, refs } = context;
  const newRecord = (): SyscallRecord => ({ illegal: null, kernelFault: null, exit: null, syscallNs: 0n });
  let record = newRecord();

  function illegal(message: string): never {
    throw new IllegalSyscallError(message);
  }

  function guarded<Args extends unknown[], Result>(name: string, body: (...args: Args) => Result) {
    return (...args: Args): Result => {
      if (record.illegal !== null) {
        illegal(`vat ${vatId} is failing: ${record.illegal}`);
      }
      if (record.kernelFault !== null) throw record.kernelFault;
      const started = process.hrtime.bigint();
      try {
        return body(...args);
      } catch (error) {
        if (error instanceof IllegalSyscallError) {
          record.illegal = `syscall.${name}: ${error.message}`;
        } else {
          record.kernelFault ??= error instanceof Error ? error : new Error(String(error));
        }
        throw error;
      } finally {
        record.syscallNs += process.hrtime.bigint() - started;
      }
    };
  }

  function importedObject(vref: string, what: string): KObjectRef {
    const parsed = parseVatRef(vref);
    const entry = store.clist.byEref(vatId, vref);
    if (parsed?.kind !== 'object' || parsed.allocatedByVat || entry === undefined) {
      illegal(`${what} of ${JSON.stringify(vref)}, which is not an object the vat imported`);
    }
    return entry.kref as KObjectRef;
  }

  function exportedObject(vref: string, what: string): KObjectRef {
    const parsed = parseVatRef(vref);
    const entry = store.clist.byEref(vatId, vref);
    if (parsed?.kind !== 'object' || !parsed.allocatedByVat || entry === undefined) {
      illegal(`${what} of ${JSON.stringify(vref)}, which is not an object the vat exported`);
    }
    return entry.kref as KObjectRef;
  }

  function checkData(data: unknown, what: string): asserts data is VatCapData {
    const candidate = data as VatCapData | null;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.body !== 'string' ||
      !Array.isArray(candidate.slots) ||
      !candidate.slots.every((slot) => typeof slot === 'string')
    ) {
      illegal(`${what} is not capdata`);
    }
  }

  function checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string') illegal(`vatstore key ${String(key)} is not a string`);
  }

  const syscall: VatSyscall = {
    send: guarded('send', (targetVref: string, methargs: VatCapData, resultVref?: string | null) => {
      checkData(methargs, 'send methargs');
      const target = translator.toKref(targetVref);
      const kernelMethargs = translator.dataToKernel(methargs);
      let result: KPromiseRef | null = null;
      if (resultVref !== undefined && resultVref !== null) {
        const parsed = parseVatRef(resultVref);
        if (parsed?.kind !== 'promise' || !parsed.allocatedByVat || store.clist.byEref(vatId, resultVref)) {
          illegal(`send result ${JSON.stringify(resultVref)} is not a new promise of the vat`);
        }
        // The result is decided by whoever receives the message, not the sender.
        result = translator.toKref(resultVref, null) as KPromiseRef;
      }
      const message = { methargs: kernelMethargs, result };
      refs.increfMessage(message, target);
      buffer.sends.push({ target, message });
    }),

    subscribe: guarded('subscribe', (vpid: string) => {
      const kpid = translator.toKref(vpid);
      if (!kpid.startsWith('kp')) illegal(`subscribe to ${vpid}, which is not a promise`);
      const promise = store.promises.get(kpid as KPromiseRef);
      if (promise === undefined) illegal(`subscribe to unknown promise ${vpid}`);
      if (promise.state === 'unresolved') {
        store.promises.subscribe(promise.kpid, vatId);
      } else {
        refs.incref(promise.kpid);
        buffer.notifies.push({ endpoint: vatId, kpid: promise.kpid });
      }
    }),

    resolve: guarded('resolve', (resolutions: VatResolution[]) => {
      if (!Array.isArray(resolutions)) illegal('resolutions is not an array');
      // Check and translate the whole batch first: resolutions may name each other.
      const batch = resolutions.map(([vpid, rejected, data]) => {
        checkData(data, `resolution of ${vpid}`);
        const entry = store.clist.byEref(vatId, vpid);
        const promise = entry && entry.kref.startsWith('kp') ? store.promises.get(entry.kref as KPromiseRef) : undefined;
        if (promise?.state !== 'unresolved' || promise.decider !== vatId) {
          illegal(`resolve of ${JSON.stringify(vpid)}, which the vat does not decide`);
        }
        return { kpid: promise.kpid, rejected: rejected === true, data: translator.dataToKernel(data) };
      });
      for (const { kpid, rejected, data } of batch) {
        resolvePromise(context, kpid, rejected, data);
        translator.forgetPromise(kpid);
      }
    }),

    exit: guarded('exit', (isFailure: boolean, info: VatCapData) => {
      checkData(info, 'exit info');
      record.exit = { failure: isFailure === true, info: translator.dataToKernel(info) };
    }),

    dropImports: guarded('dropImports', (vrefs: string[]) => {
      for (const vref of vrefs) {
        const kref = importedObject(vref, 'dropImports');
        if (!store.clist.byKref(vatId, kref)?.reachable) illegal(`dropImports of ${vref}, already dropped`);
        store.clist.setReachable(vatId, kref, false);
        refs.decrefReachableOnly(kref);
      }
    }),

    retireImports: guarded('retireImports', (vrefs: string[]) => {
      for (const vref of vrefs) {
        const kref = importedObject(vref, 'retireImports');
        if (store.clist.byKref(vatId, kref)?.reachable) illegal(`retireImports of ${vref}, not dropped first`);
        store.clist.delete(vatId, kref);
        refs.decref(kref, false);
      }
    }),

    retireExports: guarded('retireExports', (vrefs: string[]) => {
      for (const vref of vrefs) {
        const kref = exportedObject(vref, 'retireExports');
        const object = store.objects.get(kref);
        if (object === undefined || object.reachable > 0) illegal(`retireExports of ${vref}, still reachable`);
        for (const holder of store.clist.holdersOf(kref)) {
          if (holder.endpoint !== vatId) store.queues.addGcAction('retireImport', holder.endpoint, kref);
        }
        store.clist.delete(vatId, kref);
        store.objects.delete(kref);
      }
    }),

    abandonExports: guarded('abandonExports', (vrefs: string[]) => {
      for (const vref of vrefs) {
        const kref = exportedObject(vref, 'abandonExports');
        store.clist.delete(vatId, kref);
        store.objects.markLost(kref, `object ${kref} was abandoned by vat ${vatId}`);
        refs.collectLater(kref);
      }
    }),

    callNow: guarded('callNow', () => illegal('callNow: this kernel has no devices')),

    vatstoreGet: guarded('vatstoreGet', (key: string) => {
      checkKey(key);
      return store.vatstore.get(vatId, key);
    }),
    vatstoreGetNextKey: guarded('vatstoreGetNextKey', (priorKey: string) => {
      checkKey(priorKey);
      return store.vatstore.getNextKey(vatId, priorKey);
    }),
    vatstoreSet: guarded('vatstoreSet', (key: string, value: string) => {
      checkKey(key);
      if (typeof value !== 'string') illegal(`vatstoreSet of ${key} with a non-string value`);
      store.vatstore.set(vatId, key, value);
    }),
    vatstoreDelete: guarded('vatstoreDelete', (key: string) => {
      checkKey(key);
      store.vatstore.delete(vatId, key);
    }),
  };
  return {
    syscall,
    beginCrank() {
      record = newRecord();
      return record;
    },
  };
}
