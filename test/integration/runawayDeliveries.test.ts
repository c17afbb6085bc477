import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deliveryKey, poisonDeliveryLimit } from '../../src/kernel/deliveryCrashes.js';
import type { DeliveryMarks } from '../../src/store/deliveryMarker.js';
import type { DeliveryGuard, Guarded } from '../../src/vats/deliveryGuard.js';
import { startTestKernel, testVat } from '../support/harness.js';
import { tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/**
 * A guard that runs each delivery to its end and then, when told to, says
 * it was abandoned anyway: what the watchdog does to a delivery it claimed
 * (whatever the delivery did by then must not stay).
 */
function abandoningGuard() {
  let abandonNext = false;
  const guard: DeliveryGuard = {
    async watch<T>(delivery: () => Promise<T>): Promise<Guarded<T>> {
      const done = await delivery();
      if (!abandonNext) return { done };
      abandonNext = false;
      return { abandoned: 'it ran past the test deadline' };
    },
    stop: async () => {},
  };
  return { guard, abandonNext: () => (abandonNext = true) };
}

/** Marks kept in memory: `unfinished` is what a previous process left, as the file would have it. */
function marksLeftBy(unfinished: string | undefined): DeliveryMarks & { begun: string[] } {
  const begun: string[] = [];
  return { unfinished, begun, begin: (key) => void begun.push(key), end: () => {}, idle: () => {}, close: () => {} };
}

describe('deliveries that run away or kill the process', () => {
  it('an abandoned delivery leaves nothing: its crank rolls back byte for byte, its message is rejected, its vat is failed and restarts at the next start with its state', async () => {
    const file = path.join(dirs.make('ken-abandon-'), 'kernel.sqlite');
    const { guard, abandonNext } = abandoningGuard();
    const first = await startTestKernel({ path: file, guard });
    await first.kernel.createVat({ name: 'notes', bundle: await testVat('notes') });
    const notes = first.kernel.rootOf('notes');
    expect(await first.kernel.call(notes, 'add', [5])).toBe(5);
    const before = first.store.dump();

    abandonNext();
    await expect(first.kernel.call(notes, 'add', [5])).rejects.toThrow(/failed while handling this message: delivery abandoned: it ran past the test deadline/);
    expect(first.kernel.vatState('notes')).toEqual({ state: 'failed', reason: 'delivery abandoned: it ran past the test deadline', runtime: 'liveslots' });
    const after = first.store.dump();
    // What differs is the vat's record (failed, with the reason) and the host's call, consumed: not the vat's state.
    expect(after.vatstore).toEqual(before.vatstore);
    expect(after.clist).toEqual(before.clist);
    first.kernel.close();

    const second = await startTestKernel({ path: file, guard });
    expect(second.kernel.vatState('notes')).toEqual({ state: 'live', reason: undefined, runtime: 'liveslots' });
    expect(await second.kernel.call(second.kernel.rootOf('notes'), 'count')).toBe(5);
    second.kernel.close();
  });

  it(`a committed message the process died in ${poisonDeliveryLimit} times is quarantined, not delivered; one it died in once is delivered, and its count cleared`, async () => {
    const file = path.join(dirs.make('ken-poison-'), 'kernel.sqlite');
    const setup = await startTestKernel({ path: file });
    const { vatId } = await setup.kernel.createVat({ name: 'notes', bundle: await testVat('notes') });
    const notes = setup.kernel.rootOf('notes');
    // Committed, not delivered: as a message is when the process dies in its delivery.
    const queue = async () => {
      void setup.kernel.queueToKref(notes, 'add', [1]);
      await setup.kernel.run({ maxCranks: 0 });
      const item = setup.store.queues.peekRun();
      expect(item).toBeDefined();
      return deliveryKey(vatId, `run ${item?.id}`);
    };
    const poison = await queue();
    setup.kernel.close();

    // Each start finds the mark its predecessor left: one more death each.
    for (let death = 1; death < poisonDeliveryLimit; death += 1) {
      const dead = await startTestKernel({ path: file, deliveryMarks: marksLeftBy(poison) });
      expect(dead.logger.entries.find((entry) => entry.message?.startsWith('the process died during a delivery'))?.object).toMatchObject({ delivery: poison, deaths: death });
      dead.kernel.close();
    }
    const last = await startTestKernel({ path: file, deliveryMarks: marksLeftBy(poison) });
    await last.kernel.run();
    expect(last.logger.entries.map((entry) => entry.message)).toContain('a delivery that kept killing the process is quarantined: it is not delivered again');
    expect(last.store.queues.peekRun()).toBeUndefined();
    expect(last.kernel.vatState('notes')).toEqual({ state: 'live', reason: undefined, runtime: 'liveslots' });
    expect(await last.kernel.call(last.kernel.rootOf('notes'), 'count')).toBe(0);
    expect(last.store.meta.get('deliveryCrashes')).toBe('{}');
    last.kernel.close();
  });

  it('a message the process died in once is delivered again, and its count goes once it finishes', async () => {
    const file = path.join(dirs.make('ken-unlucky-'), 'kernel.sqlite');
    const setup = await startTestKernel({ path: file });
    const { vatId } = await setup.kernel.createVat({ name: 'notes', bundle: await testVat('notes') });
    void setup.kernel.queueToKref(setup.kernel.rootOf('notes'), 'add', [3]);
    await setup.kernel.run({ maxCranks: 0 });
    const key = deliveryKey(vatId, `run ${setup.store.queues.peekRun()?.id}`);
    setup.kernel.close();

    const marks = marksLeftBy(key);
    const again = await startTestKernel({ path: file, deliveryMarks: marks });
    expect(again.store.meta.get('deliveryCrashes')).toBe(JSON.stringify({ [key]: 1 }));
    await again.kernel.run();
    expect(marks.begun).toContain(key);
    expect(await again.kernel.call(again.kernel.rootOf('notes'), 'count')).toBe(3);
    expect(again.store.meta.get('deliveryCrashes')).toBe('{}');
    again.kernel.close();
  });
});
