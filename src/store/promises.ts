import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { PendingTable } from './pendingTable.js';
import type { CapData, EndpointId, KernelMessage, KernelPromise, KPromiseRef, KRef, PromiseState } from './types.js';

interface Row {
  kpid: KPromiseRef;
  state: PromiseState;
  decider: EndpointId | null;
  body: string | null;
  slots: string | null;
  refcount: number;
}

/** The subscribers column: a JSON list of endpoints in endpoint order, NULL for none. */
const subscribersOf = (json: string | null): readonly EndpointId[] | undefined => (json === null ? undefined : (JSON.parse(json) as EndpointId[]));
const subscribersColumn = (endpoints: readonly EndpointId[] | undefined): string | null => (endpoints === undefined ? null : JSON.stringify(endpoints));

/** Resolution data as a record holds it: frozen, slots and all. */
const frozenData = (body: string, slots: KRef[]): CapData<KRef> => Object.freeze({ body, slots: Object.freeze(slots) as KRef[] });

/** Kernel-ordered endpoints, as the subscribers' primary key orders them. */
const byEndpoint = (a: EndpointId, b: EndpointId) => (a < b ? -1 : a > b ? 1 : 0);

/** Past this many, the promises known to have empty queues are forgotten (and a resolution asks SQLite again): memory stays bounded. */
const maxKnownEmptyQueues = 100_000;

/**
 * Kernel promises (`kpN`), their subscribers, and messages queued on them.
 *
 * Promise records and subscriber lists write at the COMMIT
 * (pendingTable.ts): a message's result promise is created, subscribed to,
 * decided, resolved, counted and deleted within a few cranks, often within
 * one group of them, and then never reaches SQLite at all. A promise's
 * subscribers are a column of its row (schema v12), written with it: a
 * result promise made in one group and resolved in another is one row
 * inserted and one deleted, not also a subscriber's row. Messages queued
 * on a promise (pipelining before it resolves) are written at once: a queue
 * can grow long, and is appended to one message at a time.
 */
export function makePromiseStore(db: SqliteDatabase, allocate: () => number, tx: TransactionControl) {
  const select = db.prepare<[string], Row>('SELECT * FROM kernel_promises WHERE kpid = ?');
  const insert = db.prepare<[string, PromiseState, string | null, string | null, string | null, number, string | null]>(
    'INSERT INTO kernel_promises (kpid, state, decider, body, slots, refcount, subscribers) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const update = db.prepare<[PromiseState, string | null, string | null, string | null, number, string | null, string]>(
    'UPDATE kernel_promises SET state = ?, decider = ?, body = ?, slots = ?, refcount = ?, subscribers = ? WHERE kpid = ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM kernel_promises WHERE kpid = ?');
  const decidedBy = db.prepare<[string], { kpid: KPromiseRef }>(
    "SELECT kpid FROM kernel_promises WHERE decider = ? AND state = 'unresolved' ORDER BY kpid",
  );
  const selectSubscribers = db.prepare<[string], { subscribers: string | null }>('SELECT subscribers FROM kernel_promises WHERE kpid = ?');
  const updateSubscribers = db.prepare<[string | null, string]>('UPDATE kernel_promises SET subscribers = ? WHERE kpid = ?');
  const withSubscribers = db.prepare<[], { kpid: KPromiseRef; subscribers: string }>('SELECT kpid, subscribers FROM kernel_promises WHERE subscribers IS NOT NULL');
  const queuePush = tx.direct(db.prepare<[string, string, string, string, string | null]>(
    `INSERT INTO promise_queue (kpid, id, body, slots, result)
     VALUES (?, (SELECT COALESCE(MAX(id), 0) + 1 FROM promise_queue WHERE kpid = ?), ?, ?, ?)`,
  ));
  const takeQueue = tx.direct(db.prepare<[string], { id: number; body: string; slots: string; result: KPromiseRef | null }>(
    'DELETE FROM promise_queue WHERE kpid = ? RETURNING id, body, slots, result',
  ));
  const queueClear = tx.direct(db.prepare<[string]>('DELETE FROM promise_queue WHERE kpid = ?'));

  const records = tx.newPendingTable<KPromiseRef, KernelPromise>(
    (kpid) => {
      const row = select.get(kpid);
      if (row === undefined) return undefined;
      if (row.state === 'unresolved') return { kpid, state: 'unresolved', decider: row.decider, refcount: row.refcount };
      assert(row.body !== null && row.slots !== null, `resolved ${kpid} has no data`);
      return { kpid, state: row.state, data: frozenData(row.body, JSON.parse(row.slots) as KRef[]), refcount: row.refcount };
    },
    (changed) => {
      for (const [kpid, { value: promise, stored }] of changed) {
        if (promise === undefined) {
          if (stored) remove.run(kpid);
          continue;
        }
        const [decider, body, slots] = promise.state === 'unresolved' ? [promise.decider, null, null] : [null, promise.data.body, JSON.stringify(promise.data.slots)];
        const subscribed = subscribersColumn(subscribers.get(kpid));
        if (stored) {
          const { changes } = update.run(promise.state, decider, body, slots, promise.refcount, subscribed, kpid);
          assert(changes === 1, `write of ${kpid}, which SQLite does not hold`);
        } else {
          insert.run(kpid, promise.state, decider, body, slots, promise.refcount, subscribed);
        }
      }
    },
  );
  /**
   * Each promise's subscribers, in endpoint order; undefined: none. Written
   * with the promise's row when the records write it (they write first: made
   * first); alone, by an UPDATE, when only they changed.
   */
  const subscribers: PendingTable<KPromiseRef, readonly EndpointId[]> = tx.newPendingTable<KPromiseRef, readonly EndpointId[]>(
    (kpid) => subscribersOf(selectSubscribers.get(kpid)?.subscribers ?? null),
    (changed) => {
      for (const [kpid, { value: endpoints }] of changed) {
        // Written with the row; or a promise deleted, or never stored, has no row to hold them.
        if (records.writes(kpid) || records.get(kpid) === undefined) continue;
        const { changes } = updateSubscribers.run(subscribersColumn(endpoints), kpid);
        assert(changes === 1, `subscribers of ${kpid}, which SQLite does not hold`);
      }
    },
  );
  /**
   * Promises whose queue is known to be empty: made since the store opened,
   * and neither queued on nor resolved since. An undo may put queued rows
   * back, so this only ever errs towards asking SQLite.
   */
  const emptyQueues = new Set<KPromiseRef>();

  const known = (kpid: KPromiseRef, what: string): KernelPromise => {
    const promise = records.get(kpid);
    assert(promise !== undefined, `${what} of missing ${kpid}`);
    return promise;
  };

  return {
    create(decider: EndpointId | null): KPromiseRef {
      const kpid: KPromiseRef = `kp${allocate()}`;
      // A new id: SQLite holds nothing of it yet.
      records.set(kpid, { kpid, state: 'unresolved', decider, refcount: 0 }, false);
      subscribers.set(kpid, undefined, false);
      if (emptyQueues.size >= maxKnownEmptyQueues) emptyQueues.clear();
      emptyQueues.add(kpid);
      return kpid;
    },
    get(kpid: KPromiseRef): KernelPromise | undefined {
      return records.get(kpid);
    },
    /** True for a promise made since the last COMMIT: SQLite holds nothing that names it. */
    isNew(kpid: KPromiseRef): boolean {
      return records.isNew(kpid);
    },
    setDecider(kpid: KPromiseRef, decider: EndpointId | null): void {
      const promise = known(kpid, 'setDecider');
      assert(promise.state === 'unresolved', `setDecider on resolved ${kpid}`);
      records.set(kpid, { ...promise, decider });
    },
    resolve(kpid: KPromiseRef, rejected: boolean, data: CapData<KRef>): void {
      const promise = known(kpid, 'resolve');
      assert(promise.state === 'unresolved', `resolve of resolved ${kpid}`);
      records.set(kpid, { kpid, state: rejected ? 'rejected' : 'fulfilled', data: frozenData(data.body, [...data.slots]), refcount: promise.refcount });
    },
    /** Adds `delta` to the refcount and returns the new count. */
    adjustRefcount(kpid: KPromiseRef, delta: number): number {
      const promise = known(kpid, 'refcount');
      const refcount = promise.refcount + delta;
      assert(refcount >= 0, `refcount of ${kpid} below zero`);
      records.set(kpid, { ...promise, refcount });
      return refcount;
    },
    delete(kpid: KPromiseRef): void {
      const promise = records.get(kpid);
      records.set(kpid, undefined);
      // A resolved promise has neither: its resolution took its subscribers and its queue, and none are added after.
      if (promise?.state !== 'unresolved') return;
      subscribers.set(kpid, undefined);
      if (!emptyQueues.delete(kpid)) queueClear.run(kpid);
    },
    decidedBy(endpoint: EndpointId): KPromiseRef[] {
      const changed = records.changedRows();
      const decided = decidedBy
        .all(endpoint)
        .map((row) => row.kpid)
        .filter((kpid) => !changed.has(kpid));
      for (const [kpid, { value: promise }] of changed) {
        if (promise?.state === 'unresolved' && promise.decider === endpoint) decided.push(kpid);
      }
      // As SQLite orders them (text): the callers reject them in this order.
      return decided.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
    subscribe(kpid: KPromiseRef, endpoint: EndpointId): void {
      const endpoints = subscribers.get(kpid) ?? [];
      if (endpoints.includes(endpoint)) return;
      subscribers.set(kpid, [...endpoints, endpoint].sort(byEndpoint));
    },
    /** Returns the subscribers, in endpoint order, and forgets them (they are about to be notified). */
    takeSubscribers(kpid: KPromiseRef): EndpointId[] {
      const endpoints = subscribers.get(kpid);
      if (endpoints === undefined) return [];
      subscribers.set(kpid, undefined);
      return [...endpoints];
    },
    unsubscribeEverywhere(endpoint: EndpointId): void {
      // Rare (a peer forgotten or started over): every row with subscribers is read.
      const stored = withSubscribers.all().filter((row) => subscribersOf(row.subscribers)?.includes(endpoint) === true);
      const kpids = new Set([...stored.map((row) => row.kpid), ...subscribers.changedRows().keys()]);
      for (const kpid of kpids) {
        const endpoints = subscribers.get(kpid);
        if (endpoints === undefined || !endpoints.includes(endpoint)) continue;
        const rest = endpoints.filter((other) => other !== endpoint);
        subscribers.set(kpid, rest.length === 0 ? undefined : rest);
      }
    },
    enqueueMessage(kpid: KPromiseRef, message: KernelMessage): void {
      emptyQueues.delete(kpid);
      queuePush.run(kpid, kpid, message.methargs.body, JSON.stringify(message.methargs.slots), message.result);
    },
    /** Returns the messages queued on `kpid`, in order, and removes them. */
    takeMessages(kpid: KPromiseRef): KernelMessage[] {
      // Taken at its resolution: nothing is queued on a resolved promise after.
      if (emptyQueues.delete(kpid)) return [];
      return takeQueue
        .all(kpid)
        .sort((a, b) => a.id - b.id)
        .map((row) => ({ methargs: { body: row.body, slots: JSON.parse(row.slots) as KRef[] }, result: row.result }));
    },
  };
}

export type PromiseStore = ReturnType<typeof makePromiseStore>;
