import { isPromise } from '@endo/promise-kit';
import type { VatCapData, VatSyscall } from '../types.js';
import type { SlotTable } from './slotTable.js';

type Watcher = Record<string, ((value: unknown, ...args: unknown[]) => unknown) | undefined>;

/**
 * `VatData.watchPromise(promise, watcher, ...args)` for lean vats. A watcher
 * of a kernel promise (a send's result, an imported promise) that durable
 * data can hold (a durable object) is kept in the vatstore (`w.VPID`) and
 * called when the kernel settles the promise, even in a later incarnation
 * of the vat. Any other watcher is called from memory, in this incarnation.
 */
export function makePromiseWatchers(options: { syscall: () => VatSyscall; slots: () => SlotTable; warn: (...args: unknown[]) => void }) {
  const { syscall, slots, warn } = options;
  /** Vpids that got durable watchers in this incarnation. */
  const watched = new Set<string>();

  function call(watcher: Watcher, rejected: boolean, value: unknown, args: unknown[]): void {
    const method = watcher[rejected ? 'onRejected' : 'onFulfilled'];
    if (typeof method !== 'function') {
      if (rejected) warn('a watched promise was rejected and its watcher has no onRejected:', value);
      return;
    }
    void Promise.resolve()
      .then(() => method.call(watcher, value, ...args))
      .catch((error: unknown) => warn('a promise watcher failed:', error));
  }

  function watch(promise: unknown, watcher: Watcher, args: unknown[]): void {
    const vpid = isPromise(promise) ? slots().kernelPromiseOf(promise) : undefined;
    if (vpid !== undefined) {
      let entry: string | undefined;
      try {
        entry = JSON.stringify(slots().durableCodec.encode(harden([watcher, ...args])));
      } catch {
        entry = undefined; // not durable: watched from memory below
      }
      if (entry !== undefined) {
        const key = `w.${vpid}`;
        const earlier = watched.has(vpid) ? (JSON.parse(syscall().vatstoreGet(key) ?? '[]') as string[]) : [];
        syscall().vatstoreSet(key, JSON.stringify([...earlier, entry]));
        watched.add(vpid);
        // The watcher handles a rejection (from the vatstore, in whichever incarnation it comes): not an unhandled one.
        (promise as Promise<unknown>).catch(() => {});
        return;
      }
    }
    Promise.resolve(promise).then(
      (value) => call(watcher, false, value, args),
      (reason: unknown) => call(watcher, true, reason, args),
    );
  }

  return {
    watchPromise(promise: unknown, watcher: unknown, ...args: unknown[]): void {
      if (typeof watcher !== 'object' || watcher === null) throw new TypeError('watchPromise takes a watcher object');
      // A turn later, as liveslots does: the promise of a send made just before gets its vpid in the turn after the send.
      void Promise.resolve().then(() => watch(promise, watcher as Watcher, args));
    },

    /** The kernel settled `vpid`: its durable watchers are called and forgotten. */
    settled(settlement: { vpid: string; rejected: boolean; value: unknown; known: boolean }): void {
      const { vpid, rejected, value, known } = settlement;
      // A vpid this incarnation knows has durable watchers only if it gave them; one it does not know may have some from an earlier one.
      if (known && !watched.has(vpid)) return;
      watched.delete(vpid);
      const key = `w.${vpid}`;
      const text = syscall().vatstoreGet(key);
      if (text === undefined) return;
      syscall().vatstoreDelete(key);
      for (const entry of JSON.parse(text) as string[]) {
        const [watcher, ...args] = slots().durableCodec.decode(JSON.parse(entry) as VatCapData) as [Watcher, ...unknown[]];
        call(watcher, rejected, value, args);
      }
    },
  };
}
