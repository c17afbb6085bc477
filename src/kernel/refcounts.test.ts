import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type KernelStore } from '../store/index.js';
import { makeRefcounts, type Refcounts } from './refcounts.js';

let store: KernelStore;
let refs: Refcounts;

beforeEach(() => {
  store = openStore({ path: ':memory:', durability: 'process' });
  refs = makeRefcounts(store);
  store.tx.beginCrank();
});

afterEach(() => {
  if (store.tx.inCrank) store.tx.endCrank();
  store.close();
});

/** Takes every pending GC action, in queue order. */
function drainGc(): string[] {
  const actions = [];
  for (let action = store.queues.peekGc(); action !== undefined; action = store.queues.peekGc()) {
    actions.push(`${action.kind} ${action.endpoint} ${action.kref}`);
    store.queues.removeGc(action.id);
  }
  return actions;
}

/** An object exported by v1 under `o+1` and imported (counted once) by someone. */
function exportedObject() {
  const ko = store.objects.create('v1');
  store.clist.add('v1', ko, 'o+1', true);
  refs.incref(ko);
  return ko;
}

describe('promises', () => {
  it('deletes a promise whose refcount reached zero only at collect()', () => {
    const kp = store.promises.create('v1');
    refs.incref(kp);
    refs.decref(kp);
    expect(store.promises.get(kp)?.refcount).toBe(0);

    refs.collect();
    expect(store.promises.get(kp)).toBeUndefined();
  });

  it('keeps a promise that dropped to zero and came back within the crank', () => {
    const kp = store.promises.create('v1');
    refs.incref(kp);
    refs.decref(kp);
    refs.incref(kp);
    refs.collect();
    expect(store.promises.get(kp)?.refcount).toBe(1);
  });

  it('releases what a freed resolution refers to, in the same collect()', () => {
    const ko = exportedObject();
    const kp = store.promises.create('v1');
    refs.incref(kp);
    // The resolution data now holds the only reference to ko.
    store.promises.resolve(kp, false, { body: '#"$0.Alleged: x"', slots: [ko] });
    refs.increfData({ body: '', slots: [ko] });
    refs.decref(ko);
    refs.decref(kp);

    refs.collect();
    expect(store.promises.get(kp)).toBeUndefined();
    expect(store.objects.get(ko)).toMatchObject({ reachable: 0, recognizable: 0 });
    expect(drainGc()).toEqual([`dropExport v1 ${ko}`, `retireExport v1 ${ko}`]);
  });

  it('releases the messages queued on a freed unresolved promise', () => {
    const target = store.objects.create('v2');
    const kp = store.promises.create('v1');
    const result = store.promises.create('v2');
    refs.incref(kp);
    const queued = { methargs: { body: '#["m",[]]', slots: [target] }, result };
    store.promises.enqueueMessage(kp, queued);
    refs.increfMessage(queued);
    refs.decref(kp);

    refs.collect();
    expect(store.promises.get(kp)).toBeUndefined();
    expect(store.promises.get(result)).toBeUndefined();
    expect(store.objects.get(target)).toMatchObject({ reachable: 0, recognizable: 0 });
    expect(drainGc()).toEqual([`retireExport v2 ${target}`]);
  });
});

describe('objects', () => {
  it('owes no GC action before collect()', () => {
    const ko = exportedObject();
    refs.decref(ko);
    expect(drainGc()).toEqual([]);
    refs.collect();
    expect(drainGc()).toEqual([`dropExport v1 ${ko}`, `retireExport v1 ${ko}`]);
    // The owner still has it until it retires the export.
    expect(store.objects.get(ko)).toMatchObject({ owner: 'v1', reachable: 0, recognizable: 0 });
  });

  it('asks the owner to drop an export that is unreachable but still recognizable', () => {
    const ko = exportedObject();
    refs.decrefReachableOnly(ko);
    refs.collect();
    expect(drainGc()).toEqual([`dropExport v1 ${ko}`]);
  });

  it('asks only to retire an export the owner already dropped', () => {
    const ko = exportedObject();
    store.clist.setReachable('v1', ko, false);
    refs.decref(ko);
    refs.collect();
    expect(drainGc()).toEqual([`retireExport v1 ${ko}`]);
  });

  it('owes nothing for an object still reachable', () => {
    const ko = exportedObject();
    refs.incref(ko);
    refs.decref(ko);
    refs.collectLater(ko);
    refs.collect();
    expect(drainGc()).toEqual([]);
    expect(store.objects.get(ko)).toMatchObject({ reachable: 1, recognizable: 1 });
  });

  it('deletes a lost object once nothing recognizes it', () => {
    const ko = exportedObject();
    store.objects.markLost(ko, 'vat terminated');
    refs.decref(ko);
    refs.collect();
    expect(store.objects.get(ko)).toBeUndefined();
    expect(drainGc()).toEqual([]);
  });
});

describe('reset', () => {
  it('forgets the candidates, so collect() frees nothing', () => {
    const kp = store.promises.create('v1');
    refs.incref(kp);
    refs.decref(kp);
    refs.reset();
    refs.collect();
    expect(store.promises.get(kp)?.refcount).toBe(0);

    // Asked again, collect() frees it.
    refs.collectLater(kp);
    refs.collect();
    expect(store.promises.get(kp)).toBeUndefined();
  });

  it('after an aborted crank, the next crank sees the restored counts and frees nothing', () => {
    const kp = store.promises.create('v1');
    refs.incref(kp);
    store.tx.endCrank();

    store.tx.beginCrank();
    refs.decref(kp);
    store.tx.abortCrank();
    refs.reset();

    store.tx.beginCrank();
    refs.collect();
    expect(store.promises.get(kp)?.refcount).toBe(1);
  });
});
