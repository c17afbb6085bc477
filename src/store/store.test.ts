import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type KernelMessage, type KernelStore, type KPromiseRef, type VatId } from './index.js';

let store: KernelStore;

// The kernel writes inside cranks (ids are allocated only there): so do these tests.
beforeEach(() => {
  store = openStore({ path: ':memory:', durability: 'process' });
  store.tx.beginCrank();
});

afterEach(() => {
  store.close();
});

/** What SQLite holds once what the crank wrote is committed (the hot tables write at the COMMIT); a new crank goes on. */
function committedDump(of: KernelStore = store) {
  of.tx.endCrank();
  of.tx.commit();
  of.tx.beginCrank();
  return of.dump();
}

const message = (method: string, result: KPromiseRef | null = null): KernelMessage => ({
  methargs: { body: `#["${method}",[]]`, slots: [] },
  result,
});

describe('clist', () => {
  it('finds an entry by kref and by eref, per endpoint', () => {
    const ko = store.objects.create('v1');
    store.clist.add('v1', ko, 'o+1', true);
    store.clist.add('v2', ko, 'o-1', false);

    expect(store.clist.byKref('v1', ko)).toEqual({ endpoint: 'v1', kref: ko, eref: 'o+1', reachable: true });
    expect(store.clist.byEref('v2', 'o-1')).toEqual({ endpoint: 'v2', kref: ko, eref: 'o-1', reachable: false });
    expect(store.clist.byEref('v1', 'o-1')).toBeUndefined();
    expect(store.clist.byKref('v3', ko)).toBeUndefined();
    expect(store.clist.holdersOf(ko).map((entry) => entry.endpoint)).toEqual(['v1', 'v2']);

    store.clist.setReachable('v2', ko, true);
    expect(store.clist.byKref('v2', ko)?.reachable).toBe(true);
    store.clist.delete('v1', ko);
    expect(store.clist.byEref('v1', 'o+1')).toBeUndefined();
    expect(store.clist.holdersOf(ko).map((entry) => entry.endpoint)).toEqual(['v2']);
  });

  it('keeps an eref unique within an endpoint but not across endpoints', () => {
    store.clist.add('v1', 'ko1', 'o-1', true);
    expect(() => store.clist.add('v1', 'ko2', 'o-1', true)).toThrow(/v1 has o-1 in its c-list already/);
    expect(() => store.clist.add('v1', 'ko1', 'o-2', true)).toThrow(/v1 has ko1 in its c-list already/);
    store.clist.add('v2', 'ko2', 'o-1', true);
    expect(store.clist.byEref('v1', 'o-1')?.kref).toBe('ko1');
    expect(store.clist.byEref('v2', 'o-1')?.kref).toBe('ko2');
  });
});

describe('clist lookups of refs above the highest', () => {
  /** Commits, then empties every cache (a rollback does): lookups go to SQLite again. */
  const commitAndForget = (kernel: KernelStore) => {
    kernel.tx.endCrank();
    kernel.tx.commit();
    kernel.tx.rollback();
    kernel.tx.beginCrank();
  };

  it('run no statement for a ref numbered above every one of its endpoint, and still find every row', () => {
    const statements: string[] = [];
    const counted = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
    try {
      counted.tx.beginCrank();
      counted.clist.add('v1', 'ko3', 'o+3', true);
      counted.clist.add('v1', 'kp2', 'p-2', true);
      counted.clist.add('v1', 'ko9', 'o+d9/1', true);
      commitAndForget(counted);
      // The first lookup of an endpoint reads its highest numbers; lookups above them read nothing more.
      expect(counted.clist.byEref('v1', 'o+4')).toBeUndefined();
      statements.length = 0;
      expect(counted.clist.byEref('v1', 'o+5')).toBeUndefined();
      expect(counted.clist.byEref('v1', 'p-3')).toBeUndefined();
      expect(counted.clist.byKref('v1', 'ko10')).toBeUndefined();
      expect(counted.clist.byKref('v1', 'kp3')).toBeUndefined();
      expect(statements.filter((sql) => sql.startsWith('SELECT'))).toEqual([expect.stringMatching(/GROUP BY prefix/)]);
      // At or below the highest, and refs without a plain number, are read from SQLite.
      expect(counted.clist.byEref('v1', 'o+3')?.kref).toBe('ko3');
      expect(counted.clist.byEref('v1', 'p-2')?.kref).toBe('kp2');
      expect(counted.clist.byEref('v1', 'o+d9/1')?.kref).toBe('ko9');
      expect(counted.clist.byKref('v1', 'ko9')?.eref).toBe('o+d9/1');
      // Rows written after the first lookup raise the highest numbers.
      counted.clist.add('v1', 'ko12', 'o+40', true);
      counted.clist.add('v1', 'kp7', 'p-41', true);
      commitAndForget(counted);
      expect(counted.clist.byEref('v1', 'o+40')?.kref).toBe('ko12');
      expect(counted.clist.byEref('v1', 'p-41')?.kref).toBe('kp7');
      expect(counted.clist.byKref('v1', 'ko12')?.eref).toBe('o+40');
      expect(counted.clist.byKref('v1', 'kp7')?.eref).toBe('p-41');
    } finally {
      counted.close();
    }
  });

  it('read the highest numbers from the rows a store already holds', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-highest-'));
    const file = path.join(dir, 'kernel.sqlite');
    try {
      const first = openStore({ path: file, durability: 'process' });
      first.tx.beginCrank();
      first.clist.add('r1', 'ko25', 'o-100', true);
      first.tx.endCrank();
      first.tx.commit();
      first.close();
      const again = openStore({ path: file, durability: 'process' });
      again.tx.beginCrank();
      expect(again.clist.byEref('r1', 'o-101')).toBeUndefined();
      expect(again.clist.byEref('r1', 'o-100')?.kref).toBe('ko25');
      expect(again.clist.byKref('r1', 'ko25')?.eref).toBe('o-100');
      again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('promises', () => {
  it('creates an unresolved promise and resolves it once', () => {
    const kp = store.promises.create('v1');
    expect(store.promises.get(kp)).toEqual({ kpid: kp, state: 'unresolved', decider: 'v1', refcount: 0 });
    expect(store.promises.decidedBy('v1')).toEqual([kp]);

    store.promises.resolve(kp, false, { body: '#"$0.Alleged: thing"', slots: ['ko4'] });
    expect(store.promises.get(kp)).toEqual({
      kpid: kp,
      state: 'fulfilled',
      data: { body: '#"$0.Alleged: thing"', slots: ['ko4'] },
      refcount: 0,
    });
    expect(store.promises.decidedBy('v1')).toEqual([]);
    expect(() => store.promises.resolve(kp, true, { body: '#null', slots: [] })).toThrow(/resolve of resolved/);
    expect(() => store.promises.setDecider(kp, 'v2')).toThrow(/setDecider on resolved/);
    expect(() => store.promises.resolve('kp999', true, { body: '#null', slots: [] })).toThrow(/resolve of missing kp999/);

    const rejected = store.promises.create(null);
    store.promises.resolve(rejected, true, { body: '#"oops"', slots: [] });
    expect(store.promises.get(rejected)?.state).toBe('rejected');
  });

  it('subscribes each endpoint once and hands the subscribers over once', () => {
    const kp = store.promises.create('v1');
    store.promises.subscribe(kp, 'v3');
    store.promises.subscribe(kp, 'v2');
    store.promises.subscribe(kp, 'v3');
    expect(store.promises.takeSubscribers(kp)).toEqual(['v2', 'v3']);
    expect(store.promises.takeSubscribers(kp)).toEqual([]);
  });

  it('returns queued messages in the order they were enqueued, per promise', () => {
    const kp1 = store.promises.create('v1');
    const kp2 = store.promises.create('v1');
    const result = store.promises.create('v2');
    store.promises.enqueueMessage(kp1, message('first', result));
    store.promises.enqueueMessage(kp2, message('other'));
    store.promises.enqueueMessage(kp1, message('second'));
    store.promises.enqueueMessage(kp1, message('third'));

    expect(store.promises.takeMessages(kp1)).toEqual([message('first', result), message('second'), message('third')]);
    expect(store.promises.takeMessages(kp1)).toEqual([]);
    expect(store.promises.takeMessages(kp2)).toEqual([message('other')]);
  });

  it('writes a subscription to a committed promise alone, and with the row when the row changes too', () => {
    const kp = store.promises.create('v1');
    expect(committedDump().kernel_promises).toMatchObject([{ kpid: kp, subscribers: null }]);
    store.promises.subscribe(kp, 'v3');
    store.promises.subscribe(kp, 'v2');
    expect(committedDump().kernel_promises).toMatchObject([{ kpid: kp, refcount: 0, subscribers: '["v2","v3"]' }]);
    store.promises.adjustRefcount(kp, 1);
    store.promises.takeSubscribers(kp);
    expect(committedDump().kernel_promises).toMatchObject([{ kpid: kp, refcount: 1, subscribers: null }]);
  });

  it('deletes a promise with its subscribers and queued messages', () => {
    const kp = store.promises.create('v1');
    store.promises.subscribe(kp, 'v2');
    store.promises.enqueueMessage(kp, message('m'));
    store.promises.delete(kp);
    expect(store.promises.get(kp)).toBeUndefined();
    const dump = committedDump();
    expect(dump.kernel_promises).toEqual([]);
    expect(dump.promise_queue).toEqual([]);
  });
});

describe('queues', () => {
  it('runs sends and notifications first in, first out', () => {
    store.queues.enqueueSend('ko1', message('a', 'kp9'));
    store.queues.enqueueNotify('v2', 'kp3');
    store.queues.enqueueSend('kp4', message('b'));
    expect(store.queues.runLength()).toBe(3);

    const seen = [];
    for (let item = store.queues.peekRun(); item !== undefined; item = store.queues.peekRun()) {
      const { id, ...rest } = item;
      seen.push(rest);
      store.queues.removeRun(id);
    }
    expect(seen).toEqual([
      { type: 'send', target: 'ko1', message: message('a', 'kp9') },
      { type: 'notify', endpoint: 'v2', kpid: 'kp3' },
      { type: 'send', target: 'kp4', message: message('b') },
    ]);
    expect(store.queues.runLength()).toBe(0);
  });

  it('runs GC actions first in, first out and ignores a duplicate of a pending one', () => {
    store.queues.addGcAction('dropExport', 'v1', 'ko1');
    store.queues.addGcAction('retireImport', 'v2', 'ko1');
    store.queues.addGcAction('dropExport', 'v1', 'ko1');
    store.queues.addGcAction('retireExport', 'v1', 'ko1');

    const drain = () => {
      const actions = [];
      for (let action = store.queues.peekGc(); action !== undefined; action = store.queues.peekGc()) {
        actions.push(`${action.kind} ${action.endpoint} ${action.kref}`);
        store.queues.removeGc(action.id);
      }
      return actions;
    };
    expect(drain()).toEqual(['dropExport v1 ko1', 'retireImport v2 ko1', 'retireExport v1 ko1']);

    // Once done, the same action can be owed again.
    store.queues.addGcAction('dropExport', 'v1', 'ko1');
    expect(drain()).toEqual(['dropExport v1 ko1']);
  });
});

describe('vatstore', () => {
  it('answers every key as SQLite holds it, a key above its prefix\'s greatest without a statement (property)', () => {
    // Prefixes nested and not, key types side by side (b, c, |, ~), code points that order differently in UTF-16, a '/' right after a prefix's stem.
    const keys = ['c.1.', 'c.1.a', 'c.1.b', 'c.1.b1', 'c.1.c', 'c.1.|n', 'c.1.~', 'c.1.~z', 'c.1.\u{1F600}', 'c.1.\uFFFD', 'c.1.a.b', 'c.1/x', 'c.10.a', 'c.', 'x', 'c.2.n1', 'c.2.n2', 'c.2.n3'];
    const vats: VatId[] = ['v1', 'v2'];
    const op = fc.oneof(
      fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const), vat: fc.nat(1), key: fc.nat(keys.length - 1) }),
      fc.record({ kind: fc.constantFrom('commit' as const, 'abort' as const, 'check' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const statements: string[] = [];
        const kernel = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
        // The connection itself: what SQLite holds, past every cache.
        const { db } = kernel.tx as unknown as { db: { prepare: (sql: string) => { get: (...args: string[]) => { value: string } | undefined } } };
        const inSqlite = db.prepare('SELECT value FROM vatstore WHERE vat_id = ? AND key = ?');
        let written = 0;
        try {
          kernel.tx.beginCrank();
          for (const step of ops) {
            if (step.kind === 'set') kernel.vatstore.set(vats[step.vat] as VatId, keys[step.key] as string, `value ${(written += 1)}`);
            else if (step.kind === 'delete') kernel.vatstore.delete(vats[step.vat] as VatId, keys[step.key] as string);
            else if (step.kind === 'abort') {
              kernel.tx.abortCrank();
              kernel.tx.beginCrank();
            } else {
              kernel.tx.endCrank();
              kernel.tx.commit();
              if (step.kind === 'check') {
                // Every cache emptied: each lookup is the store's own, against SQLite's rows.
                kernel.tx.rollback();
                for (const vatId of vats) for (const key of keys) expect(kernel.vatstore.get(vatId, key)).toBe(inSqlite.get(vatId, key)?.value);
              }
              kernel.tx.beginCrank();
            }
          }
        } finally {
          kernel.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads a key above the greatest one SQLite holds under its prefix without a statement', () => {
    const statements: string[] = [];
    const counted = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
    try {
      counted.tx.beginCrank();
      counted.vatstore.set('v1', 'c.2.n00001', 'first');
      counted.tx.endCrank();
      counted.tx.commit();
      counted.tx.rollback();
      counted.tx.beginCrank();
      expect(counted.vatstore.get('v1', 'c.2.n00002')).toBeUndefined();
      statements.length = 0;
      expect(counted.vatstore.get('v1', 'c.2.n00003')).toBeUndefined();
      expect(statements).toEqual([]);
      expect(counted.vatstore.get('v1', 'c.2.n00001')).toBe('first');
      expect(statements).toHaveLength(1);
    } finally {
      counted.close();
    }
  });

  it('gets, sets, overwrites and deletes keys per vat', () => {
    store.vatstore.set('v1', 'k', 'one');
    store.vatstore.set('v2', 'k', 'two');
    store.vatstore.set('v1', 'k', 'uno');
    expect(store.vatstore.get('v1', 'k')).toBe('uno');
    expect(store.vatstore.get('v2', 'k')).toBe('two');
    store.vatstore.delete('v1', 'k');
    expect(store.vatstore.get('v1', 'k')).toBeUndefined();
    expect(store.vatstore.get('v2', 'k')).toBe('two');
    store.vatstore.deleteAll('v2');
    expect(store.vatstore.get('v2', 'k')).toBeUndefined();
  });

  it('getNextKey returns the next key strictly after priorKey within the vat only', () => {
    for (const key of ['b', 'a', 'b.1', 'c']) store.vatstore.set('v1', key, 'x');
    // Keys of other vats sort between and around v1's keys; none may leak.
    for (const key of ['a.0', 'b.0', 'bb', 'd']) store.vatstore.set('v2', key, 'y');
    store.vatstore.set('v10', 'a', 'z');

    expect(store.vatstore.getNextKey('v1', '')).toBe('a');
    expect(store.vatstore.getNextKey('v1', 'a')).toBe('b');
    expect(store.vatstore.getNextKey('v1', 'a.5')).toBe('b');
    expect(store.vatstore.getNextKey('v1', 'b')).toBe('b.1');
    expect(store.vatstore.getNextKey('v1', 'b.1')).toBe('c');
    expect(store.vatstore.getNextKey('v1', 'c')).toBeUndefined();
    expect(store.vatstore.getNextKey('v1', 'zzz')).toBeUndefined();
    expect(store.vatstore.getNextKey('v3', '')).toBeUndefined();
  });

  it('iterating getNextKey yields exactly the sorted keys of the vat (property)', () => {
    // Any code point but NUL and the surrogates: ASCII, and beyond U+FFFF, where UTF-16's order is not SQLite's.
    const codePoint = fc.oneof(fc.integer({ min: 1, max: 0x7f }), fc.integer({ min: 0xe000, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }));
    const keys = fc.uniqueArray(fc.string({ unit: codePoint.map((code) => String.fromCodePoint(code)), minLength: 1, maxLength: 8 }), { maxLength: 30 });
    fc.assert(
      fc.property(keys, keys, (mine, theirs) => {
        const fresh = openStore({ path: ':memory:', durability: 'process' });
        try {
          fresh.tx.beginCrank();
          for (const key of theirs) fresh.vatstore.set('v2', key, 'theirs');
          // Half of the keys committed, the other half waiting for the COMMIT, and a third of the committed ones deleted since.
          const half = Math.floor(mine.length / 2);
          for (const key of mine.slice(0, half)) fresh.vatstore.set('v1', key, 'mine');
          committedDump(fresh);
          for (const key of mine.slice(half)) fresh.vatstore.set('v1', key, 'mine');
          const deleted = mine.slice(0, half).filter((_key, index) => index % 3 === 0);
          for (const key of deleted) fresh.vatstore.delete('v1', key);
          const walk = () => {
            const seen: string[] = [];
            for (let key = fresh.vatstore.getNextKey('v1', ''); key !== undefined; key = fresh.vatstore.getNextKey('v1', key)) seen.push(key);
            return seen;
          };
          // SQLite's order: the bytes of UTF-8.
          const expected = mine.filter((key) => !deleted.includes(key)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
          expect(walk()).toEqual(expected);
          committedDump(fresh);
          expect(walk()).toEqual(expected);
        } finally {
          fresh.close();
        }
      }),
    );
  });
});

describe('peers', () => {
  it('stamps each outbox row with the clock it was given and finds the oldest row left', () => {
    let now = 1_000;
    const stamped = openStore({ path: ':memory:', durability: 'process', now: () => now });
    try {
      stamped.tx.beginCrank();
      stamped.peers.ensure('P');
      expect(stamped.outbox.oldestWrittenAt('P')).toBeUndefined();
      stamped.outbox.append('P', 1, '{}');
      expect(stamped.outbox.oldestWrittenAt('P')).toBe(1_000);
      now = 2_000;
      stamped.outbox.append('P', 2, '{}');
      expect(stamped.outbox.oldestWrittenAt('P')).toBe(1_000);
      // Acks come for rows that were sent, so committed.
      expect(() => stamped.outbox.deleteUpTo('P', 1)).toThrow(/not committed/);
      committedDump(stamped);
      stamped.outbox.deleteUpTo('P', 1);
      expect(stamped.outbox.oldestWrittenAt('P')).toBe(2_000);
      stamped.outbox.deleteUpTo('P', 2);
      expect(stamped.outbox.oldestWrittenAt('P')).toBeUndefined();
    } finally {
      stamped.close();
    }
  });

  it('finds an issued swiss number, not another, and keeps only its SHA-256', () => {
    const swiss = '0123456789abcdef'.repeat(2);
    store.peers.recordUrl(swiss, 'ko7');
    expect(store.peers.lookupUrl(swiss)?.kref).toBe('ko7');
    // One digit off, a prefix, and the same digits in upper case name nothing.
    expect(store.peers.lookupUrl(`${swiss.slice(0, -1)}0`)).toBeUndefined();
    expect(store.peers.lookupUrl(swiss.slice(0, 31))).toBeUndefined();
    expect(store.peers.lookupUrl(swiss.toUpperCase())).toBeUndefined();
    expect(committedDump().ocap_urls).toEqual([{ swiss_sha256: createHash('sha256').update(swiss).digest(), kref: 'ko7', expires_at: null, revoked_reason: null }]);
    expect(JSON.stringify(store.dump())).not.toContain(swiss);
  });

  it('keeps when an issued swiss number expires, and its revocation once', () => {
    const swiss = 'fedcba9876543210'.repeat(2);
    store.peers.recordUrl(swiss, 'ko8', 1_700_000_000_000);
    expect(store.peers.lookupUrl(swiss)).toEqual({ kref: 'ko8', expiresAtMs: 1_700_000_000_000, revoked: null });
    expect(store.peers.revokeUrl(swiss, 'revoked by the operator')).toBe(true);
    expect(store.peers.revokeUrl(swiss, 'again')).toBe(false);
    expect(store.peers.lookupUrl(swiss)).toEqual({ kref: 'ko8', expiresAtMs: 1_700_000_000_000, revoked: 'revoked by the operator' });
    expect(store.peers.revokeUrl('00'.repeat(16), 'never issued')).toBe(false);
  });
});

describe('meta and ids', () => {
  it('says the incarnation as the open transaction has it: a new one from its crank on, the old one again after an abort', () => {
    const old = store.meta.incarnation();
    store.tx.endCrank();
    store.tx.beginCrank();
    const fresh = store.meta.becomeNewIncarnation(() => 'ab'.repeat(16));
    expect(store.meta.incarnation()).toBe(fresh);
    store.tx.abortCrank();
    expect(store.meta.incarnation()).toBe(old);
    store.tx.beginCrank();
    store.meta.becomeNewIncarnation(() => 'cd'.repeat(16));
    store.tx.endCrank();
    store.tx.commit();
    expect(store.meta.incarnation()).toBe('cd'.repeat(16));
    store.tx.beginCrank();
  });

  it('allocates increasing ids per counter, shared with the stores that create refs', () => {
    expect([store.meta.allocate('ko'), store.meta.allocate('ko'), store.meta.allocate('kp')]).toEqual([1, 2, 1]);
    expect(store.objects.create('v1')).toBe('ko3');
    expect(store.promises.create(null)).toBe('kp2');
    store.vats.putBundle('hash', '{}');
    expect(store.vats.create('alice', 'lean', 'hash', { body: '#null', slots: [] })).toBe('v1');
    expect(store.meta.allocate('vat')).toBe(2);
  });
});

describe('on disk', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-store-test-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the incarnation and counters across reopen; a new file gets a new incarnation', () => {
    const file = path.join(dir, 'a.sqlite');
    const first = openStore({ path: file, durability: 'fsync' });
    const incarnation = first.meta.incarnation();
    expect(incarnation).toMatch(/^[0-9a-f]{32}$/);
    expect(first.meta.incarnation()).toBe(incarnation);
    first.tx.beginCrank();
    expect(first.meta.allocate('ko')).toBe(1);
    first.tx.endCrank();
    first.tx.commit();
    first.close();

    const reopened = openStore({ path: file, durability: 'fsync' });
    expect(reopened.meta.incarnation()).toBe(incarnation);
    reopened.tx.beginCrank();
    expect(reopened.meta.allocate('ko')).toBe(2);
    reopened.tx.endCrank();
    expect(() => reopened.meta.allocate('ko')).toThrow(/allocated outside a crank/);
    reopened.close();

    const other = openStore({ path: path.join(dir, 'b.sqlite'), durability: 'fsync' });
    expect(other.meta.incarnation()).not.toBe(incarnation);
    other.close();
  });

  it('dump() is equal for equal content, whatever the order of writes', () => {
    const a = openStore({ path: path.join(dir, 'a.sqlite'), durability: 'process' });
    const b = openStore({ path: path.join(dir, 'b.sqlite'), durability: 'process' });
    try {
      a.tx.beginCrank();
      b.tx.beginCrank();
      a.vatstore.set('v1', 'x', '1');
      a.vatstore.set('v1', 'y', '2');
      a.clist.add('v2', 'ko1', 'o-1', true);
      a.clist.add('v1', 'ko1', 'o+1', true);

      b.clist.add('v1', 'ko1', 'o+1', true);
      b.vatstore.set('v1', 'y', '2');
      b.clist.add('v2', 'ko1', 'o-1', true);
      b.vatstore.set('v1', 'x', '1');

      expect(committedDump(b)).toEqual(committedDump(a));
      expect(a.dump().vatstore).toEqual([
        { vat_id: 'v1', key: 'x', value: '1' },
        { vat_id: 'v1', key: 'y', value: '2' },
      ]);

      b.vatstore.set('v1', 'x', 'changed');
      expect(committedDump(b)).not.toEqual(a.dump());
    } finally {
      a.close();
      b.close();
    }
  });
});
