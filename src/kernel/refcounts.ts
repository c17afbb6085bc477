import type { KernelStore } from '../store/index.js';
import { kernelOwner, type CapData, type KernelMessage, type KObjectRef, type KPromiseRef, type KRef } from '../store/types.js';
import { assert } from '../util/assert.js';

const isObjectRef = (kref: KRef): kref is KObjectRef => kref.startsWith('ko');

/**
 * Reference counting for kernel objects and promises.
 *
 * An object counts, as `recognizable`, every importer's c-list entry and every
 * place kernel data names it (queued messages, resolution data, buffered
 * output); `reachable` counts the same minus importers that dropped it. A
 * promise counts c-list entries and kernel data in one `refcount`.
 *
 * A count that reaches zero does not free anything at once: the kref goes on
 * a "maybe free" list that {@link Refcounts.collect} examines at the end of
 * the crank, so a ref that drops to zero and comes back within one crank
 * (sent, then resolved, say) is never freed in between.
 */
export function makeRefcounts(store: KernelStore) {
  const maybeFree = new Set<KRef>();

  function incref(kref: KRef, reachable = true): void {
    if (isObjectRef(kref)) {
      const counts = store.objects.adjustCounts(kref, reachable ? 1 : 0, 1);
      assert(counts !== undefined, `incref of missing ${kref}`);
    } else {
      store.promises.adjustRefcount(kref, 1);
    }
  }

  function decref(kref: KRef, reachable = true): void {
    if (isObjectRef(kref)) {
      const counts = store.objects.adjustCounts(kref, reachable ? -1 : 0, -1);
      assert(counts !== undefined, `decref of missing ${kref}`);
      if (counts.reachable === 0) {
        maybeFree.add(kref);
      }
    } else if (store.promises.adjustRefcount(kref, -1) === 0) {
      maybeFree.add(kref);
    }
  }

  /** An importer dropped its import: still recognizable, no longer reachable through it. */
  function decrefReachableOnly(kref: KObjectRef): void {
    const counts = store.objects.adjustCounts(kref, -1, 0);
    assert(counts !== undefined, `decref of missing ${kref}`);
    if (counts.reachable === 0) {
      maybeFree.add(kref);
    }
  }

  const increfData = (data: CapData<KRef>) => data.slots.forEach((kref) => incref(kref));
  const decrefData = (data: CapData<KRef>) => data.slots.forEach((kref) => decref(kref));

  /** Counts a message held by kernel data; `target` is omitted for messages queued on their target. */
  function increfMessage(message: KernelMessage, target?: KRef): void {
    if (target !== undefined) incref(target);
    increfData(message.methargs);
    if (message.result !== null) incref(message.result);
  }

  function decrefMessage(message: KernelMessage, target?: KRef): void {
    if (target !== undefined) decref(target);
    decrefData(message.methargs);
    if (message.result !== null) decref(message.result);
  }

  function collectObject(kref: KObjectRef): void {
    const row = store.objects.get(kref);
    if (row === undefined) {
      return;
    }
    if (row.owner === null) {
      if (row.recognizable === 0) store.objects.delete(kref);
      return;
    }
    if (row.owner === kernelOwner) return; // services are pinned for the kernel's life
    const exported = store.clist.byKref(row.owner, kref);
    if (row.reachable === 0 && exported?.reachable === true) {
      store.queues.addGcAction('dropExport', row.owner, kref);
    }
    if (row.recognizable === 0) {
      store.queues.addGcAction('retireExport', row.owner, kref);
    }
  }

  function collectPromise(kpid: KPromiseRef): void {
    const promise = store.promises.get(kpid);
    if (promise === undefined || promise.refcount > 0) {
      return;
    }
    if (promise.state === 'unresolved') {
      store.promises.takeMessages(kpid).forEach((message) => decrefMessage(message));
    } else {
      decrefData(promise.data);
    }
    store.promises.delete(kpid);
  }

  return {
    incref,
    decref,
    decrefReachableOnly,
    /** Examines `kref` at the end of the crank even though no count changed. */
    collectLater: (kref: KRef) => void maybeFree.add(kref),
    increfData,
    decrefData,
    increfMessage,
    decrefMessage,
    /** Frees what reached zero during this crank, until nothing more does. */
    collect(): void {
      for (let kref = first(maybeFree); kref !== undefined; kref = first(maybeFree)) {
        maybeFree.delete(kref);
        if (isObjectRef(kref)) collectObject(kref);
        else collectPromise(kref);
      }
    },
    /** Forgets the candidates of an aborted crank (the savepoint undid their counts). */
    reset(): void {
      maybeFree.clear();
    },
  };
}

function first<T>(set: Set<T>): T | undefined {
  for (const value of set) return value;
  return undefined;
}

export type Refcounts = ReturnType<typeof makeRefcounts>;
