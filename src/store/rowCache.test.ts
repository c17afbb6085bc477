import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openStore, type EndpointId, type KernelStore, type KObjectRef, type KPromiseRef, type VatId } from './index.js';

/**
 * The cached reads (c-list both ways, promise, object, vat and peer records)
 * must say what SQLite holds after any sequence of writes, crank ends,
 * crank aborts, commits and rollbacks: the cache never answers with a row
 * an undo removed or a value a write changed. Promise refcounts and object
 * counts, written at the end of each crank, are compared outside cranks.
 */

type Op =
  | { kind: 'promise' | 'object' | 'vat' | 'end' | 'abort' | 'commit' | 'rollback' }
  | { kind: 'refcount'; index: number; delta: number }
  | { kind: 'resolve' | 'decider' | 'deletePromise' | 'deleteObject' | 'lose' | 'fail'; index: number }
  | { kind: 'counts'; index: number; reachable: number; recognizable: number }
  | { kind: 'clistAdd'; index: number; endpoint: number; reachable: boolean }
  | { kind: 'clistReach' | 'clistDelete'; index: number; endpoint: number; reachable: boolean }
  | { kind: 'peer' | 'send' | 'receive' | 'ack' | 'incarnation' | 'addresses' | 'resetPeer' | 'prune'; index: number };

const index = fc.nat(7);
const endpoint = fc.nat(2);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constantFrom('promise', 'object', 'vat', 'end', 'abort', 'commit', 'rollback').map((kind) => ({ kind }) as Op),
  fc.record({ kind: fc.constant('refcount' as const), index, delta: fc.integer({ min: -1, max: 2 }) }),
  fc.record({ kind: fc.constantFrom('resolve', 'decider', 'deletePromise', 'deleteObject', 'lose', 'fail'), index }),
  fc.record({ kind: fc.constant('counts' as const), index, reachable: fc.integer({ min: -1, max: 1 }), recognizable: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constantFrom('clistAdd', 'clistReach', 'clistDelete'), index, endpoint, reachable: fc.boolean() }),
  // Weighted so that runs of sends and acks to one peer come often.
  { arbitrary: fc.record({ kind: fc.constantFrom('peer', 'send', 'send', 'receive', 'ack', 'ack', 'incarnation', 'addresses', 'resetPeer', 'prune'), index }), weight: 4 },
);

/** The peers the ops name: a few, so that they meet. */
const peerIds = ['peerA', 'peerB'];

/** What SQLite holds, read past the caches (dump reads every table). */
function fromSql(store: KernelStore) {
  const tables = store.dump() as Record<string, Record<string, unknown>[]>;
  return {
    promises: new Map((tables.kernel_promises ?? []).map((row) => [row.kpid as string, row])),
    objects: new Map((tables.kernel_objects ?? []).map((row) => [row.kref as string, row])),
    clist: tables.clist ?? [],
    vats: new Map((tables.vats ?? []).map((row) => [row.vat_id as string, row])),
    peers: new Map((tables.peers ?? []).map((row) => [row.peer_id as string, row])),
  };
}

function expectCacheAgrees(store: KernelStore, krefs: { promises: KPromiseRef[]; objects: KObjectRef[]; vats: VatId[] }): void {
  const sql = fromSql(store);
  for (const kpid of krefs.promises) {
    const row = sql.promises.get(kpid);
    const cached = store.promises.get(kpid);
    if (row === undefined) {
      expect(cached).toBeUndefined();
      continue;
    }
    // Inside a crank a refcount changes in memory only, and is written at the crank's end (promises.ts).
    if (!store.tx.inCrank) expect(cached?.refcount).toBe(row.refcount);
    expect(cached?.state).toBe(row.state);
    if (cached?.state === 'unresolved') expect(cached.decider).toBe(row.decider);
    else expect(cached?.data).toEqual({ body: row.body, slots: JSON.parse(row.slots as string) });
  }
  for (const kref of krefs.objects) {
    const row = sql.objects.get(kref);
    const cachedObject = store.objects.get(kref);
    if (store.tx.inCrank) {
      // Counts change in memory inside a crank and are written at its end (objects.ts): compared outside cranks.
      expect(cachedObject && { ...cachedObject, reachable: 0, recognizable: 0 }).toEqual(row && { kref, owner: row.owner, lostReason: row.lost_reason, reachable: 0, recognizable: 0 });
    } else {
      expect(cachedObject).toEqual(row && { kref, owner: row.owner, lostReason: row.lost_reason, reachable: row.reachable, recognizable: row.recognizable });
    }
    for (const endpointId of ['v1', 'v2', 'v3'] as EndpointId[]) {
      const entry = sql.clist.find((clistRow) => clistRow.endpoint === endpointId && clistRow.kref === kref);
      const expected = entry && { endpoint: endpointId, kref, eref: entry.eref, reachable: entry.reachable === 1 };
      expect(store.clist.byKref(endpointId, kref)).toEqual(expected);
      if (entry !== undefined) expect(store.clist.byEref(endpointId, entry.eref as string)).toEqual(expected);
    }
  }
  for (const vatId of krefs.vats) {
    const row = sql.vats.get(vatId);
    const cached = store.vats.get(vatId);
    expect(cached?.state).toBe(row?.state);
  }
  for (const peerId of peerIds) {
    const row = sql.peers.get(peerId);
    const cached = store.peers.get(peerId);
    const expected = row && {
      peerId,
      endpoint: row.endpoint,
      incarnation: row.incarnation,
      nextSendSeq: row.next_send_seq,
      ackedSeq: row.acked_seq,
      receivedSeq: row.received_seq,
      addresses: JSON.parse(row.addresses as string),
      receivedDigest: row.received_digest,
      ackedDigest: row.acked_digest,
    };
    expect(cached && { ...expected, ...cached, forgotten: undefined, localIncarnation: undefined, startedOver: undefined }).toEqual(
      expected && { ...expected, forgotten: undefined, localIncarnation: undefined, startedOver: undefined },
    );
    if (row !== undefined) expect(store.peers.byEndpoint(row.endpoint as `r${number}`)?.peerId).toBe(peerId);
  }
}

/** Applies `op`; an op that SQLite refuses (a CHECK, a missing row) throws, as it would in a crank. */
function apply(store: KernelStore, op: Op, made: { promises: KPromiseRef[]; objects: KObjectRef[]; vats: VatId[] }): void {
  const promise = (i: number) => made.promises[i % Math.max(1, made.promises.length)];
  const object = (i: number) => made.objects[i % Math.max(1, made.objects.length)];
  switch (op.kind) {
    case 'promise':
      made.promises.push(store.promises.create('v1'));
      return;
    case 'object':
      made.objects.push(store.objects.create('v1'));
      return;
    case 'vat':
      store.vats.putBundle('h', '{}');
      made.vats.push(store.vats.create(`vat${made.vats.length}`, made.vats.length % 2 === 0 ? 'liveslots' : 'lean', 'h', { body: '#null', slots: [] }));
      return;
    case 'end':
      if (store.tx.inCrank) store.tx.endCrank();
      return;
    case 'abort':
      if (store.tx.inCrank) store.tx.abortCrank();
      return;
    case 'commit':
      if (store.tx.inCrank) store.tx.endCrank();
      store.tx.commit();
      return;
    case 'rollback':
      store.tx.rollback();
      return;
    default:
  }
  if (!store.tx.inCrank) store.tx.beginCrank();
  const kpid = promise(op.index);
  const kref = object(op.index);
  switch (op.kind) {
    case 'refcount':
      if (kpid !== undefined) store.promises.adjustRefcount(kpid, op.delta);
      return;
    case 'resolve':
      if (kpid !== undefined) store.promises.resolve(kpid, op.index % 2 === 0, { body: `#${op.index}`, slots: kref === undefined ? [] : [kref] });
      return;
    case 'decider':
      if (kpid !== undefined) store.promises.setDecider(kpid, op.index % 2 === 0 ? null : 'v2');
      return;
    case 'deletePromise':
      if (kpid !== undefined) store.promises.delete(kpid);
      return;
    case 'deleteObject':
      if (kref !== undefined) store.objects.delete(kref);
      return;
    case 'lose':
      if (kref !== undefined) store.objects.markLost(kref, `lost ${op.index}`);
      return;
    case 'fail': {
      const vatId = made.vats[op.index % Math.max(1, made.vats.length)];
      if (vatId !== undefined) store.vats.markFailed(vatId, `failed ${op.index}`);
      return;
    }
    case 'counts':
      if (kref !== undefined) store.objects.adjustCounts(kref, op.reachable, op.recognizable);
      return;
    case 'clistAdd':
      if (kref !== undefined) store.clist.add(`v${op.endpoint + 1}`, kref, `o-${op.index}`, op.reachable);
      return;
    case 'clistReach':
      if (kref !== undefined) store.clist.setReachable(`v${op.endpoint + 1}`, kref, op.reachable);
      return;
    case 'clistDelete':
      if (kref !== undefined) store.clist.delete(`v${op.endpoint + 1}`, kref);
      return;
    default:
  }
  const peerId = peerIds[op.index % peerIds.length] as string;
  // Read first, as the receive rule does: the record is cached when the write comes.
  const peer = op.kind === 'prune' ? undefined : (store.peers.get(peerId) ?? store.peers.ensure(peerId));
  switch (op.kind) {
    case 'peer':
      store.peers.ensure(peerId);
      return;
    case 'send':
      if (peer !== undefined) store.outbox.append(peerId, store.peers.takeSendSeq(peerId), `{"n":${op.index}}`);
      return;
    case 'receive':
      if (peer !== undefined) store.peers.setReceived(peerId, peer.receivedSeq + 1, `${op.index}`.padStart(32, '0'));
      return;
    case 'ack':
      // As the receive rule applies an ack: the rows go (their digest kept in the peer's row), then acked_seq.
      if (peer !== undefined && peer.nextSendSeq > peer.ackedSeq + 1) {
        store.outbox.deleteUpTo(peerId, peer.ackedSeq + 1);
        store.peers.setAckedSeq(peerId, peer.ackedSeq + 1);
      }
      return;
    case 'incarnation':
      if (peer !== undefined) store.peers.setIncarnation(peerId, `inc${op.index}`);
      return;
    case 'addresses':
      if (peer !== undefined) store.peers.addAddresses(peerId, [`/memory/${op.index}`]);
      return;
    case 'resetPeer':
      if (peer !== undefined) store.peers.resetSequences(peerId);
      return;
    case 'prune':
      store.peers.pruneIdle(op.index % 2);
      return;
  }
}

describe('row caches (write-through, emptied at every undo)', () => {
  it('answer what SQLite holds after any writes, crank ends, aborts, commits and rollbacks', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const store = openStore({ path: ':memory:', durability: 'process' });
        const made = { promises: [] as KPromiseRef[], objects: [] as KObjectRef[], vats: [] as VatId[] };
        try {
          for (const step of ops) {
            try {
              apply(store, step, made);
            } catch (error) {
              // A write SQLite refused undoes its crank, as the kernel does.
              expect(String(error)).toMatch(/constraint|missing|UNIQUE|CHECK|resolved|terminated|not failed|below zero/i);
              if (store.tx.inCrank) store.tx.abortCrank();
            }
            expectCacheAgrees(store, made);
          }
        } finally {
          store.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('start over empty past their bound, and still answer from SQLite', () => {
    const store = openStore({ path: ':memory:', durability: 'process' });
    const cache = store.tx.newCache<string, { n: number }>(2);
    cache.set('a', { n: 1 });
    cache.set('b', { n: 2 });
    cache.set('c', { n: 3 });
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.peek('c')).toEqual({ n: 3 });
    expect(Object.isFrozen(cache.peek('c'))).toBe(true);
    expect(cache.get('a', () => ({ n: 10 }))).toEqual({ n: 10 });
    store.close();
  });
});
