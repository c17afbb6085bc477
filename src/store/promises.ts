import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { RowCache } from './rowCache.js';
import type { CapData, EndpointId, KernelMessage, KernelPromise, KPromiseRef, KRef, PromiseState } from './types.js';

interface Row {
  kpid: KPromiseRef;
  state: PromiseState;
  decider: EndpointId | null;
  body: string | null;
  slots: string | null;
  refcount: number;
}

/** Resolution data as a cached record holds it: frozen, slots and all. */
const frozenData = (body: string, slots: KRef[]): CapData<KRef> => Object.freeze({ body, slots: Object.freeze(slots) as KRef[] });

/**
 * Kernel promises (`kpN`), their subscribers, and messages queued on them.
 * Promise records are cached (rowCache.ts). Refcounts change several times
 * a message (a send's result is counted by the message, the c-lists, the
 * queue item): inside a crank they change in memory and each changed one
 * is written once, at the crank's end (`deferToCrankEnd`); the cached
 * record always holds the current count.
 */
export function makePromiseStore(db: SqliteDatabase, allocate: () => number, cache: RowCache<KPromiseRef, KernelPromise>, tx: TransactionControl) {
  const insert = db.prepare<[string, string | null]>(
    "INSERT INTO kernel_promises (kpid, state, decider) VALUES (?, 'unresolved', ?)",
  );
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_promises WHERE kpid = ?');
  const setDecider = db.prepare<[string | null, string]>(
    "UPDATE kernel_promises SET decider = ? WHERE kpid = ? AND state = 'unresolved'",
  );
  const resolve = db.prepare<[string, string, string, string]>(
    "UPDATE kernel_promises SET state = ?, decider = NULL, body = ?, slots = ? WHERE kpid = ? AND state = 'unresolved'",
  );
  const setRefcount = db.prepare<[number, string]>('UPDATE kernel_promises SET refcount = ? WHERE kpid = ?');
  /** Refcounts changed in the crank in progress, not written yet. */
  const pendingRefcounts = new Map<KPromiseRef, number>();
  tx.deferToCrankEnd(() => {
    for (const [kpid, refcount] of pendingRefcounts) {
      const { changes } = setRefcount.run(refcount, kpid);
      assert(changes === 1, `refcount of missing ${kpid}`);
    }
    pendingRefcounts.clear();
  });
  tx.onUndo(() => pendingRefcounts.clear());
  const remove = db.prepare<[string]>('DELETE FROM kernel_promises WHERE kpid = ?');
  const decidedBy = db.prepare<[string], { kpid: KPromiseRef }>(
    "SELECT kpid FROM kernel_promises WHERE decider = ? AND state = 'unresolved' ORDER BY kpid",
  );
  const addSubscriber = db.prepare<[string, string]>(
    'INSERT OR IGNORE INTO promise_subscribers (kpid, endpoint) VALUES (?, ?)',
  );
  const takeSubscribers = db.prepare<[string], { endpoint: EndpointId }>('DELETE FROM promise_subscribers WHERE kpid = ? RETURNING endpoint');
  const clearSubscribers = db.prepare<[string]>('DELETE FROM promise_subscribers WHERE kpid = ?');
  const unsubscribeEverywhere = db.prepare<[string]>('DELETE FROM promise_subscribers WHERE endpoint = ?');
  const queuePush = db.prepare<[string, string, string, string, string | null]>(
    `INSERT INTO promise_queue (kpid, id, body, slots, result)
     VALUES (?, (SELECT COALESCE(MAX(id), 0) + 1 FROM promise_queue WHERE kpid = ?), ?, ?, ?)`,
  );
  const takeQueue = db.prepare<[string], { id: number; body: string; slots: string; result: KPromiseRef | null }>(
    'DELETE FROM promise_queue WHERE kpid = ? RETURNING id, body, slots, result',
  );
  const queueClear = db.prepare<[string]>('DELETE FROM promise_queue WHERE kpid = ?');
  const read = (kpid: KPromiseRef): KernelPromise | undefined => {
    const row = select.get(kpid);
    if (row === undefined) {
      return undefined;
    }
    // The row's count may be behind one changed in this crank (the cache started over meanwhile).
    const refcount = pendingRefcounts.get(kpid) ?? row.refcount;
    if (row.state === 'unresolved') {
      return { kpid, state: 'unresolved', decider: row.decider, refcount };
    }
    assert(row.body !== null && row.slots !== null, `resolved ${kpid} has no data`);
    return { kpid, state: row.state, data: frozenData(row.body, JSON.parse(row.slots) as KRef[]), refcount };
  };

  return {
    create(decider: EndpointId | null): KPromiseRef {
      const kpid: KPromiseRef = `kp${allocate()}`;
      insert.run(kpid, decider);
      cache.set(kpid, { kpid, state: 'unresolved', decider, refcount: 0 });
      return kpid;
    },
    get(kpid: KPromiseRef): KernelPromise | undefined {
      return cache.get(kpid, () => read(kpid));
    },
    setDecider(kpid: KPromiseRef, decider: EndpointId | null): void {
      const { changes } = setDecider.run(decider, kpid);
      assert(changes === 1, `setDecider on missing or resolved ${kpid}`);
      const known = cache.peek(kpid);
      if (known?.state === 'unresolved') cache.set(kpid, { ...known, decider });
    },
    resolve(kpid: KPromiseRef, rejected: boolean, data: CapData<KRef>): void {
      const state = rejected ? 'rejected' : 'fulfilled';
      const { changes } = resolve.run(state, data.body, JSON.stringify(data.slots), kpid);
      assert(changes === 1, `resolve of missing or resolved ${kpid}`);
      const known = cache.peek(kpid);
      if (known !== undefined) cache.set(kpid, { kpid, state, data: frozenData(data.body, [...data.slots]), refcount: known.refcount });
    },
    /** Adds `delta` to the refcount and returns the new count; written at the crank's end, or at once outside a crank. */
    adjustRefcount(kpid: KPromiseRef, delta: number): number {
      const known = cache.get(kpid, () => read(kpid));
      assert(known !== undefined, `refcount of missing ${kpid}`);
      const refcount = known.refcount + delta;
      assert(refcount >= 0, `refcount of ${kpid} below zero`);
      if (tx.inCrank) {
        pendingRefcounts.set(kpid, refcount);
      } else {
        setRefcount.run(refcount, kpid);
      }
      cache.set(kpid, { ...known, refcount });
      return refcount;
    },
    delete(kpid: KPromiseRef): void {
      const known = cache.get(kpid, () => read(kpid));
      pendingRefcounts.delete(kpid);
      remove.run(kpid);
      cache.set(kpid, undefined);
      // A resolved promise has neither: its resolution took its subscribers and its queue, and none are added after.
      if (known?.state !== 'unresolved') return;
      clearSubscribers.run(kpid);
      queueClear.run(kpid);
    },
    decidedBy(endpoint: EndpointId): KPromiseRef[] {
      return decidedBy.all(endpoint).map((row) => row.kpid);
    },
    subscribe(kpid: KPromiseRef, endpoint: EndpointId): void {
      addSubscriber.run(kpid, endpoint);
    },
    /** Returns the subscribers and forgets them (they are about to be notified). */
    takeSubscribers(kpid: KPromiseRef): EndpointId[] {
      // RETURNING gives rows in no set order: sorted here, as the subscribers' primary key orders them.
      return takeSubscribers
        .all(kpid)
        .map((row) => row.endpoint)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
    unsubscribeEverywhere(endpoint: EndpointId): void {
      unsubscribeEverywhere.run(endpoint);
    },
    enqueueMessage(kpid: KPromiseRef, message: KernelMessage): void {
      queuePush.run(kpid, kpid, message.methargs.body, JSON.stringify(message.methargs.slots), message.result);
    },
    /** Returns the messages queued on `kpid`, in order, and removes them. */
    takeMessages(kpid: KPromiseRef): KernelMessage[] {
      return takeQueue
        .all(kpid)
        .sort((a, b) => a.id - b.id)
        .map((row) => ({ methargs: { body: row.body, slots: JSON.parse(row.slots) as KRef[] }, result: row.result }));
    },
  };
}

export type PromiseStore = ReturnType<typeof makePromiseStore>;
