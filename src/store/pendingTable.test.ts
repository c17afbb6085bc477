import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openStore, type EndpointId, type KernelStore, type KObjectRef, type KPromiseRef, type RunQueueItem, type VatId } from './index.js';
import type { SqliteDatabase } from './db.js';
import { compareKeys } from './keyOrder.js';
import { unknown } from './pendingTable.js';

/**
 * The hot tables write at the COMMIT (pendingTable.ts, the run queue in
 * queues.ts): their changes wait in memory, journaled per crank. Whatever
 * the sequence of writes, crank ends, aborts, commits and rollbacks, what
 * the store answers must be what a store that wrote at once would answer:
 * - after an abort, exactly what it answered when the crank began;
 * - after a COMMIT, exactly what SQLite now holds (read past every cache);
 * - after a rollback, exactly what it answered at the last COMMIT;
 * - at every step, what SQLite would hold if the COMMIT came now.
 * Reads of unchanged rows come from caches of what SQLite holds, so the
 * same checks hold the caches to SQLite.
 */

type Op =
  | { kind: 'promise' | 'object' | 'vat' | 'end' | 'abort' | 'commit' | 'rollback' | 'take' }
  | { kind: 'refcount'; index: number; delta: number }
  | { kind: 'resolve' | 'decider' | 'deletePromise' | 'deleteObject' | 'lose' | 'fail' | 'enqueue'; index: number }
  | { kind: 'counts'; index: number; reachable: number; recognizable: number }
  | { kind: 'clistAdd' | 'clistReach' | 'clistDelete' | 'subscribe' | 'takeSubscribers' | 'unsubscribe'; index: number; endpoint: number; reachable: boolean }
  | { kind: 'vatstoreSet' | 'vatstoreDelete'; vat: number; key: number; value: number }
  | { kind: 'peer' | 'send' | 'rewrite' | 'receive' | 'ack' | 'incarnation' | 'addresses' | 'resetPeer' | 'prune'; index: number };

const index = fc.nat(7);
const endpoint = fc.nat(2);
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constantFrom('promise', 'object', 'vat', 'end', 'abort', 'commit', 'rollback', 'take').map((kind) => ({ kind }) as Op), weight: 3 },
  fc.record({ kind: fc.constant('refcount' as const), index, delta: fc.integer({ min: -1, max: 2 }) }),
  fc.record({ kind: fc.constantFrom('resolve', 'decider', 'deletePromise', 'deleteObject', 'lose', 'fail', 'enqueue'), index }),
  fc.record({ kind: fc.constant('counts' as const), index, reachable: fc.integer({ min: -1, max: 1 }), recognizable: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constantFrom('clistAdd', 'clistReach', 'clistDelete', 'subscribe', 'takeSubscribers', 'unsubscribe'), index, endpoint, reachable: fc.boolean() }),
  // Keys with a code point above U+FFFF and one in U+E000..U+FFFF: their order differs between UTF-16 and SQLite.
  fc.record({ kind: fc.constantFrom('vatstoreSet', 'vatstoreDelete'), vat: fc.nat(1), key: fc.nat(5), value: fc.nat(3) }),
  // Weighted so that runs of sends and acks to one peer come often.
  { arbitrary: fc.record({ kind: fc.constantFrom('peer', 'send', 'send', 'receive', 'ack', 'ack', 'incarnation', 'addresses', 'resetPeer', 'prune'), index }), weight: 4 },
);

const peerIds = ['peerA', 'peerB'];
const endpoints: EndpointId[] = ['v1', 'v2', 'v3'];
const vatstoreKeys = ['a', 'a.1', 'b', '\u{1F600}', '\uFFFD', 'z'];
const vatstoreVats: VatId[] = ['v1', 'v2'];

interface Made {
  promises: KPromiseRef[];
  objects: KObjectRef[];
  vats: VatId[];
  /** Run-queue items taken, in order. */
  taken: number[];
}

/** Everything the store answers about what the ops made, as plain data. */
function view(store: KernelStore, made: Made) {
  return {
    promises: made.promises.map((kpid) => store.promises.get(kpid) ?? null),
    subscribers: made.promises.map((kpid) => subscribersOf(store, kpid)),
    objects: made.objects.map((kref) => store.objects.get(kref) ?? null),
    clist: made.objects.flatMap((kref) =>
      endpoints.map((id) => {
        const entry = store.clist.byKref(id, kref);
        return { entry: entry ?? null, back: entry === undefined ? null : (store.clist.byEref(id, entry.eref) ?? null) };
      }),
    ),
    holders: made.objects.map((kref) => store.clist.holdersOf(kref)),
    owned: store.objects.ownedBy('v1'),
    decided: store.promises.decidedBy('v1'),
    vats: made.vats.map((vatId) => store.vats.get(vatId)?.state ?? null),
    peers: peerIds.map((peerId) => {
      const peer = store.peers.get(peerId);
      return peer === undefined ? null : { ...peer, byEndpoint: store.peers.byEndpoint(peer.endpoint)?.peerId ?? null, depth: store.outbox.depth(peerId) };
    }),
    allPeers: store.peers.all().map((peer) => peer.peerId),
    vatstore: vatstoreVats.map((vatId) => vatstoreOf(store, vatId)),
    runLength: store.queues.runLength(),
    runHead: store.queues.peekRun()?.id ?? null,
  };
}

/** Subscribers are read by taking them; a read that leaves them: take, then put back, inside a crank of its own that is aborted. */
function subscribersOf(store: KernelStore, kpid: KPromiseRef): string[] {
  const inCrank = store.tx.inCrank;
  if (!inCrank) store.tx.beginCrank();
  const taken = store.promises.get(kpid) === undefined ? [] : store.promises.takeSubscribers(kpid);
  for (const id of taken) store.promises.subscribe(kpid, id);
  if (!inCrank) store.tx.abortCrank();
  return taken;
}

/** Every key and value of a vatstore, walked with getNextKey as liveslots walks it. */
function vatstoreOf(store: KernelStore, vatId: VatId): [string, string | undefined][] {
  const entries: [string, string | undefined][] = [];
  let key = store.vatstore.getNextKey(vatId, '');
  for (let steps = 0; key !== undefined && steps < 20; steps += 1) {
    entries.push([key, store.vatstore.get(vatId, key)]);
    key = store.vatstore.getNextKey(vatId, key);
  }
  return entries;
}

/** The same view, built from SQLite's rows alone (store.dump reads every table). */
function sqlView(store: KernelStore, made: Made) {
  const tables = store.dump() as Record<string, Record<string, unknown>[]>;
  const rows = (name: string) => tables[name] ?? [];
  const promise = (kpid: KPromiseRef) => {
    const row = rows('kernel_promises').find((candidate) => candidate.kpid === kpid);
    if (row === undefined) return null;
    return row.state === 'unresolved'
      ? { kpid, state: 'unresolved', decider: row.decider, refcount: row.refcount }
      : { kpid, state: row.state, data: { body: row.body, slots: JSON.parse(row.slots as string) }, refcount: row.refcount };
  };
  const object = (kref: KObjectRef) => {
    const row = rows('kernel_objects').find((candidate) => candidate.kref === kref);
    return row === undefined ? null : { kref, owner: row.owner, lostReason: row.lost_reason, reachable: row.reachable, recognizable: row.recognizable };
  };
  const entry = (row: Record<string, unknown>) => ({ endpoint: row.endpoint, kref: row.kref, eref: row.eref, reachable: row.reachable === 1 });
  const clistOf = (id: EndpointId, kref: KObjectRef) => rows('clist').find((row) => row.endpoint === id && row.kref === kref);
  const peerRow = (peerId: string) => rows('peers').find((row) => row.peer_id === peerId);
  return {
    promises: made.promises.map(promise),
    subscribers: made.promises.map((kpid) => {
      const column = rows('kernel_promises').find((row) => row.kpid === kpid)?.subscribers as string | null | undefined;
      return column === undefined || column === null ? [] : (JSON.parse(column) as string[]);
    }),
    objects: made.objects.map(object),
    clist: made.objects.flatMap((kref) =>
      endpoints.map((id) => {
        const row = clistOf(id, kref);
        return { entry: row === undefined ? null : entry(row), back: row === undefined ? null : entry(row) };
      }),
    ),
    holders: made.objects.map((kref) => rows('clist').filter((row) => row.kref === kref).map(entry)),
    owned: rows('kernel_objects').filter((row) => row.owner === 'v1').map((row) => row.kref),
    decided: rows('kernel_promises').filter((row) => row.decider === 'v1' && row.state === 'unresolved').map((row) => row.kpid),
    vats: made.vats.map((vatId) => rows('vats').find((row) => row.vat_id === vatId)?.state ?? null),
    peers: peerIds.map((peerId) => {
      const row = peerRow(peerId);
      return row === undefined
        ? null
        : {
            peerId,
            endpoint: row.endpoint,
            incarnation: row.incarnation,
            nextSendSeq: row.next_send_seq,
            ackedSeq: row.acked_seq,
            receivedSeq: row.received_seq,
            addresses: JSON.parse(row.addresses as string),
            forgotten: row.forgotten_reason,
            localIncarnation: row.local_incarnation,
            startedOver: row.started_over === null ? null : JSON.parse(row.started_over as string),
            receivedDigest: row.received_digest,
            ackedDigest: row.acked_digest,
            startOvers: row.start_overs,
            nextObjectId: row.next_object_id,
            nextPromiseId: row.next_promise_id,
            byEndpoint: peerId,
            depth: rows('outbox').filter((outboxRow) => outboxRow.peer_id === peerId).length,
          };
    }),
    allPeers: rows('peers')
      .sort((a, b) => Number((a.endpoint as string).slice(1)) - Number((b.endpoint as string).slice(1)))
      .map((row) => row.peer_id),
    vatstore: vatstoreVats.map((vatId) =>
      rows('vatstore')
        .filter((row) => row.vat_id === vatId)
        .map((row) => [row.key, row.value])
        .sort((a, b) => compareKeys(a[0] as string, b[0] as string)),
    ),
    runLength: rows('run_queue').length,
    runHead: (rows('run_queue').map((row) => row.id as number).sort((a, b) => a - b)[0] ?? null) as number | null,
  };
}

/** Applies `op`; an op the store refuses (an assertion of its invariants) throws, as it would in a crank, which is then aborted. */
function apply(store: KernelStore, op: Op, made: Made): void {
  const promise = (i: number) => made.promises[i % Math.max(1, made.promises.length)];
  const object = (i: number) => made.objects[i % Math.max(1, made.objects.length)];
  switch (op.kind) {
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
  const kpid = promise('index' in op ? op.index : 0);
  const kref = object('index' in op ? op.index : 0);
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
    case 'take': {
      const head: RunQueueItem | undefined = store.queues.peekRun();
      if (head !== undefined) {
        store.queues.removeRun(head.id);
        made.taken.push(head.id);
      }
      return;
    }
    case 'enqueue':
      if (op.index % 2 === 0) store.queues.enqueueNotify('v1', kpid ?? 'kp0');
      else store.queues.enqueueSend(kref ?? 'ko0', { methargs: { body: `#${op.index}`, slots: [] }, result: null });
      return;
    case 'refcount':
      if (kpid !== undefined) store.promises.adjustRefcount(kpid, op.delta);
      return;
    case 'resolve':
      if (kpid !== undefined) store.promises.resolve(kpid, op.index % 2 === 0, { body: `#${op.index}`, slots: kref === undefined ? [] : [kref] });
      return;
    case 'decider':
      if (kpid !== undefined) store.promises.setDecider(kpid, op.index % 2 === 0 ? null : 'v1');
      return;
    case 'deletePromise':
      if (kpid !== undefined) store.promises.delete(kpid);
      return;
    case 'subscribe':
      if (kpid !== undefined && store.promises.get(kpid)?.state === 'unresolved') store.promises.subscribe(kpid, endpoints[op.endpoint] as EndpointId);
      return;
    case 'takeSubscribers':
      if (kpid !== undefined) store.promises.takeSubscribers(kpid);
      return;
    case 'unsubscribe':
      store.promises.unsubscribeEverywhere(endpoints[op.endpoint] as EndpointId);
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
      if (kref !== undefined) store.clist.add(endpoints[op.endpoint] as EndpointId, kref, `o-${op.index}`, op.reachable);
      return;
    case 'clistReach':
      if (kref !== undefined) store.clist.setReachable(endpoints[op.endpoint] as EndpointId, kref, op.reachable);
      return;
    case 'clistDelete':
      if (kref !== undefined) store.clist.delete(endpoints[op.endpoint] as EndpointId, kref);
      return;
    case 'vatstoreSet':
      store.vatstore.set(vatstoreVats[op.vat] as VatId, vatstoreKeys[op.key] as string, `value ${op.value}`);
      return;
    case 'vatstoreDelete':
      store.vatstore.delete(vatstoreVats[op.vat] as VatId, vatstoreKeys[op.key] as string);
      return;
    default:
  }
  if (!('index' in op)) return;
  const peerId = peerIds[op.index % peerIds.length] as string;
  const peer = op.kind === 'prune' ? undefined : (store.peers.get(peerId) ?? store.peers.ensure(peerId));
  switch (op.kind) {
    case 'peer':
      store.peers.ensure(peerId);
      return;
    case 'send':
      if (peer !== undefined) store.outbox.append(peerId, store.peers.takeSendSeq(peerId), `{"n":${op.index}}`, { n: op.index });
      return;
    case 'rewrite': {
      // As the router joins a resolution to the peer's last notify: the last row appended since the COMMIT, if any.
      const last = peer === undefined ? undefined : store.outbox.lastAppended(peerId);
      if (last !== undefined) store.outbox.rewriteLast(peerId, last.seq, `{"n":${last.seq},"joined":${op.index}}`, { n: last.seq, joined: op.index });
      return;
    }
    case 'receive':
      if (peer !== undefined) store.peers.setReceived(peerId, peer.receivedSeq + 1, `${op.index}`.padStart(32, '0'));
      return;
    case 'ack':
      // As the receive rule applies an ack, of a row that was sent, so committed: the rows go, then the acked number and the last row's digest.
      if (peer !== undefined && store.outbox.read(peerId, peer.ackedSeq + 1, peer.ackedSeq + 1, 1).length === 1) {
        const digest = store.outbox.deleteUpTo(peerId, peer.ackedSeq + 1);
        store.peers.setAcked(peerId, peer.ackedSeq + 1, digest);
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

/**
 * What the transmitter reads of each peer's outbox (rows kept in memory
 * since their COMMIT, or SQLite's) is what SQLite holds now, less the rows
 * acked since the COMMIT (written there): whole, and from every seq.
 */
function expectOutboxReadsAsSqlite(store: KernelStore): void {
  // The connection itself, past every cache (the open transaction's direct writes, a peer's rows cleared, included).
  const { db } = store.tx as unknown as { db: SqliteDatabase };
  const rowsOf = db.prepare<[string, number], { seq: number; frame: string }>(
    'SELECT seq, CAST(frame AS TEXT) AS frame FROM outbox WHERE peer_id = ? AND seq > ? ORDER BY seq',
  );
  for (const peerId of peerIds) {
    const acked = store.peers.get(peerId)?.ackedSeq ?? 0;
    const rows = rowsOf.all(peerId, acked);
    expect(store.outbox.read(peerId, 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).toEqual(rows);
    for (const [index, row] of rows.entries()) {
      expect(store.outbox.read(peerId, row.seq, row.seq + 1, 1)).toEqual([row]);
      expect(store.outbox.read(peerId, row.seq, Number.MAX_SAFE_INTEGER, 2)).toEqual(rows.slice(index, index + 2));
    }
  }
}

/** A JSON round trip: the views compare as data (frozen arrays, undefined fields, key order aside). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

/** How long each list of `made` was at some instant: an undo takes the lists back there (what was made since is gone). */
const lengths = (made: Made) => ({ promises: made.promises.length, objects: made.objects.length, vats: made.vats.length });
function truncate(made: Made, to: ReturnType<typeof lengths>): void {
  made.promises.length = to.promises;
  made.objects.length = to.objects;
  made.vats.length = to.vats;
}

describe('tables that write at the COMMIT', () => {
  it('answer as a store that wrote at once: aborts undo the crank, COMMITs write it all, rollbacks undo the group', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const store = openStore({ path: ':memory:', durability: 'process' });
        const made: Made = { promises: [], objects: [], vats: [], taken: [] };
        let atCommit = { view: plain(view(store, made)), made: lengths(made) };
        let atCrankStart = atCommit;
        try {
          for (const step of ops) {
            if (!store.tx.inCrank) atCrankStart = { view: plain(view(store, made)), made: lengths(made) };
            const wasInCrank = store.tx.inCrank;
            let refused = false;
            try {
              apply(store, step, made);
            } catch (error) {
              expect(String(error)).toMatch(/missing|already|resolved|terminated|not failed|below zero|CHECK|unknown peer/i);
              refused = true;
              if (store.tx.inCrank) store.tx.abortCrank();
            }
            if (refused || (step.kind === 'abort' && wasInCrank)) {
              truncate(made, atCrankStart.made);
              expect(plain(view(store, made))).toEqual(atCrankStart.view);
            }
            if (step.kind === 'commit') {
              atCommit = { view: plain(view(store, made)), made: lengths(made) };
              expect(plain(sqlView(store, made))).toEqual(atCommit.view);
            }
            if (step.kind === 'rollback') {
              truncate(made, atCommit.made);
              expect(plain(view(store, made))).toEqual(atCommit.view);
            }
            // At every step, what the COMMIT would write is what the store answers.
            expect(plain(sqlView(store, made))).toEqual(plain(view(store, made)));
            expectOutboxReadsAsSqlite(store);
          }
          if (store.tx.inCrank) store.tx.endCrank();
          store.tx.commit();
          expect(plain(sqlView(store, made))).toEqual(plain(view(store, made)));
        } finally {
          store.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('read outbox rows as SQLite holds them, from the rows kept since their COMMIT or from SQLite', () => {
    const outboxOp = fc.record({ kind: fc.constantFrom('send', 'send', 'rewrite', 'ack', 'commit', 'commit', 'abort', 'resetPeer', 'rollback', 'end'), index: fc.nat(1) });
    fc.assert(
      fc.property(fc.array(outboxOp, { minLength: 1, maxLength: 120 }), (ops) => {
        const store = openStore({ path: ':memory:', durability: 'process' });
        const made: Made = { promises: [], objects: [], vats: [], taken: [] };
        try {
          for (const step of ops) {
            apply(store, step as Op, made);
            expectOutboxReadsAsSqlite(store);
          }
        } finally {
          store.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('read outbox rows as SQLite holds them past the bounds of the rows kept in memory (rows a peer, characters in all)', () => {
    const store = openStore({ path: ':memory:', durability: 'process' });
    try {
      const send = (peerId: string, count: number, frame: (index: number) => string) => {
        store.tx.beginCrank();
        store.peers.ensure(peerId);
        for (let index = 0; index < count; index += 1) store.outbox.append(peerId, store.peers.takeSendSeq(peerId), frame(index));
        store.tx.endCrank();
        store.tx.commit();
      };
      // More rows than a peer keeps, then rows larger than all peers keep together.
      send('peerA', 1_100, (index) => `{"n":${index}}`);
      expectOutboxReadsAsSqlite(store);
      send('peerB', 10, (index) => `{"big":"${String(index).repeat(1024 * 1024)}"}`);
      expectOutboxReadsAsSqlite(store);
      send('peerA', 3, (index) => `{"m":${index}}`);
      expectOutboxReadsAsSqlite(store);
      store.tx.beginCrank();
      const digest = store.outbox.deleteUpTo('peerA', 1_050);
      store.peers.setAcked('peerA', 1_050, digest);
      store.tx.endCrank();
      store.tx.commit();
      expectOutboxReadsAsSqlite(store);
    } finally {
      store.close();
    }
  });

  it('put back an outbox row rewritten in a crank that aborts, and write its last rewrite at the COMMIT', () => {
    const store = openStore({ path: ':memory:', durability: 'process' });
    try {
      const append = (n: number) => store.outbox.append('P', store.peers.takeSendSeq('P'), `{"n":${n}}`, { n });
      store.tx.beginCrank();
      store.peers.ensure('P');
      append(1);
      store.tx.endCrank();
      store.tx.beginCrank();
      store.outbox.rewriteLast('P', 1, '{"n":1,"more":2}', { n: 1, more: 2 });
      expect(store.outbox.lastAppended('P')).toEqual({ seq: 1, kept: { n: 1, more: 2 } });
      store.tx.abortCrank();
      expect(store.outbox.lastAppended('P')).toEqual({ seq: 1, kept: { n: 1 } });
      store.tx.beginCrank();
      store.outbox.rewriteLast('P', 1, '{"n":1,"more":3}', { n: 1, more: 3 });
      append(2);
      // Only the peer's last row can grow: one before it was followed by another.
      expect(() => store.outbox.rewriteLast('P', 1, '{}', {})).toThrow(/not its last one/);
      store.tx.endCrank();
      store.tx.commit();
      // Committed rows may be sent: none is the last appended any more.
      expect(store.outbox.lastAppended('P')).toBeUndefined();
      expect(store.outbox.read('P', 1, 2, 2)).toEqual([
        { seq: 1, frame: '{"n":1,"more":3}' },
        { seq: 2, frame: '{"n":2}' },
      ]);
      // A row appended in a crank that aborts is gone: the last one is the one before it again; a peer's rows cleared leave none.
      store.tx.beginCrank();
      append(3);
      store.tx.endCrank();
      store.tx.beginCrank();
      append(4);
      expect(store.outbox.lastAppended('P')).toEqual({ seq: 4, kept: { n: 4 } });
      store.tx.abortCrank();
      expect(store.outbox.lastAppended('P')).toEqual({ seq: 3, kept: { n: 3 } });
      store.tx.beginCrank();
      store.outbox.clear('P');
      expect(store.outbox.lastAppended('P')).toBeUndefined();
      store.tx.abortCrank();
      expect(store.outbox.lastAppended('P')).toEqual({ seq: 3, kept: { n: 3 } });
      store.tx.beginCrank();
      store.outbox.clear('P');
      store.tx.endCrank();
      store.tx.commit();
    } finally {
      store.close();
    }
  });

  it('write a row made and deleted within one group not at all', () => {
    const statements: string[] = [];
    const store = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
    store.tx.beginCrank();
    const kpid = store.promises.create('v1');
    store.promises.subscribe(kpid, 'v2');
    store.clist.add('v2', kpid, 'p-1', true);
    store.queues.enqueueNotify('v2', kpid);
    store.tx.endCrank();
    store.tx.beginCrank();
    const head = store.queues.peekRun();
    expect(head?.type).toBe('notify');
    store.queues.removeRun(head?.id ?? 0);
    store.promises.resolve(kpid, false, { body: '#1', slots: [] });
    expect(store.promises.takeSubscribers(kpid)).toEqual(['v2']);
    store.clist.delete('v2', kpid);
    store.promises.delete(kpid);
    store.tx.endCrank();
    statements.length = 0;
    store.tx.commit();
    const written = statements.filter((sql) => /^(INSERT|UPDATE|DELETE)/.test(sql));
    // The kp counter is all the group leaves behind.
    expect(written).toEqual([expect.stringMatching(/INSERT INTO kernel_meta/)]);
    store.close();
  });

  it('write a row changed and changed back within one group not at all', () => {
    const statements: string[] = [];
    const store = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
    store.tx.beginCrank();
    const kref = store.objects.create('v1');
    store.tx.endCrank();
    store.tx.commit();
    // A message names the object, and its delivery lets go of it: up and down again, in two cranks of one group.
    store.tx.beginCrank();
    store.objects.adjustCounts(kref, 1, 1);
    store.tx.endCrank();
    store.tx.beginCrank();
    store.objects.adjustCounts(kref, -1, -1);
    store.tx.endCrank();
    statements.length = 0;
    store.tx.commit();
    expect(statements.filter((sql) => /^(INSERT|UPDATE|DELETE)/.test(sql))).toEqual([]);
    // A change that stays is written.
    store.tx.beginCrank();
    store.objects.adjustCounts(kref, 1, 1);
    store.tx.endCrank();
    statements.length = 0;
    store.tx.commit();
    expect(statements.filter((sql) => /^UPDATE kernel_objects/.test(sql))).toHaveLength(1);
    store.close();
  });

  it('keep no row a COMMIT deleted: the next read of it asks SQLite', () => {
    const store = openStore({ path: ':memory:', durability: 'process' });
    // What the table's SQLite rows would be, and how often they are read.
    const rows = new Map<string, number>();
    let loads = 0;
    const table = store.tx.newPendingTable<string, { n: number }>(
      (key) => {
        loads += 1;
        const n = rows.get(key);
        return n === undefined ? undefined : { n };
      },
      (changed) => {
        for (const [key, { value }] of changed) {
          if (value === undefined) rows.delete(key);
          else rows.set(key, value.n);
        }
      },
    );
    store.tx.beginCrank();
    table.set('a', { n: 1 }, false);
    store.tx.endCrank();
    store.tx.commit();
    expect(table.known('a')).toEqual({ n: 1 });
    store.tx.beginCrank();
    table.set('a', undefined);
    store.tx.endCrank();
    store.tx.commit();
    expect(rows.has('a')).toBe(false);
    expect(table.known('a')).toBe(unknown);
    expect(table.get('a')).toBeUndefined();
    expect(loads).toBe(1);
    store.close();
  });

  it('forget their oldest rows past their bound, and still answer from SQLite', () => {
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
