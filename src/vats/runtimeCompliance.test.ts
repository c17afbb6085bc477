import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleVat, startTestKernel, testVat } from '../../test/support/harness.js';
import { tempDirs } from '../../test/support/nodes.js';
import { vatRuntimes, type VatRuntime } from './vatInstance.js';

/**
 * The runtime compliance suite: the programming model every vat runtime
 * must keep, one vat source (test/vats/compliance.js) run on each runtime,
 * and on a mix of them (both speak the same dispatch/syscall interface).
 */

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const storePath = (): string => path.join(dirs.make('ken-compliance-'), 'kernel.sqlite');

async function threeVats(runtimes: [VatRuntime, VatRuntime, VatRuntime]) {
  const test = await startTestKernel();
  const bundle = await testVat('compliance');
  const names = ['alice', 'bob', 'carol'] as const;
  for (const [index, name] of names.entries()) await test.kernel.createVat({ name, bundle, runtime: runtimes[index] });
  const [alice, bob, carol] = names.map((name) => test.kernel.rootOf(name));
  return { ...test, alice: alice!, bob: bob!, carol: carol! };
}

const layouts: [string, [VatRuntime, VatRuntime, VatRuntime]][] = [
  ...vatRuntimes.map((runtime): [string, [VatRuntime, VatRuntime, VatRuntime]] => [runtime, [runtime, runtime, runtime]]),
  ['lean beside liveslots', ['lean', 'liveslots', 'lean']],
];

describe.each(layouts)('vat runtime compliance: %s', (_layout, runtimes) => {
  it('answers with results and rejections, its own and relayed from another vat', async () => {
    const { kernel, alice, bob } = await threeVats(runtimes);
    expect(await kernel.call(alice, 'echo', [{ a: [1, 'two', null, 3n] }])).toEqual({ a: [1, 'two', null, 3n] });
    await expect(kernel.call(alice, 'fail', ['at once'])).rejects.toThrow('at once');
    await expect(kernel.call(alice, 'failLater', ['after a turn'])).rejects.toThrow('after a turn');
    await expect(kernel.call(alice, 'nonesuch', [])).rejects.toThrow(/nonesuch/);
    expect(await kernel.call(alice, 'relay', [bob, 'via bob'])).toBe('via bob');
    expect(await kernel.call(alice, 'catchFrom', [bob, 'from bob'])).toBe('caught: from bob');
    kernel.close();
  });

  it('pipelines sends to a result before it settles', async () => {
    const { kernel, alice, bob } = await threeVats(runtimes);
    expect(await kernel.call(alice, 'pipeline', [bob, 'piped'])).toBe('piped');
    kernel.close();
  });

  it('passes references: its own objects come back as themselves, presences stay one, a third vat is reached', async () => {
    const { kernel, alice, bob, carol } = await threeVats(runtimes);
    expect(await kernel.call(alice, 'sameBack', [bob])).toBe(true);
    expect(await kernel.call(alice, 'samePresence', [bob])).toBe(true);
    const thing = (await kernel.call(carol, 'makeThing', ['of carol'])) as object;
    expect(await kernel.call(alice, 'introduce', [bob, thing])).toBe('of carol');
    await expect(kernel.call(thing, 'fail', [])).rejects.toThrow('thrown by of carol');
    expect(await kernel.call(alice, 'passPromise', [bob])).toBe('got later');
    kernel.close();
  });

  it('sends send-only messages: consumed in order, one crank each, nothing comes back', async () => {
    const { kernel, alice, bob } = await threeVats(runtimes);
    const before = kernel.stats.deliveries;
    expect(await kernel.call(alice, 'sendOnlyTo', [bob, 20])).toBe(20);
    // The call and its result's notify, then the 20 sends: no notify back for any of them.
    expect(kernel.stats.deliveries - before).toBe(21);
    expect(await kernel.call(bob, 'recorded')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    kernel.close();
  });

  it('keeps durable state and objects across a restart; ephemeral ones are lost, and say so', async () => {
    const file = storePath();
    const first = await startTestKernel({ path: file });
    const [durableRuntime, watcherRuntime, otherRuntime] = runtimes;
    await first.kernel.createVat({ name: 'durable', bundle: await testVat('durable'), runtime: durableRuntime });
    await first.kernel.createVat({ name: 'watcher', bundle: await testVat('durable'), runtime: watcherRuntime });
    await first.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await first.kernel.createVat({ name: 'alice', bundle: await testVat('compliance'), runtime: otherRuntime });
    const { kernel } = first;
    const durable = kernel.rootOf('durable');
    const alice = kernel.rootOf('alice');
    const counter = (await kernel.call(durable, 'makeCounter', ['apples'])) as object;
    for (let i = 0; i < 3; i += 1) await kernel.call(counter, 'increment');
    const ephemeral = (await kernel.call(durable, 'makeEphemeral')) as object;
    await kernel.call(alice, 'remember', ['answer', { n: 42 }]);
    await kernel.call(alice, 'keep', ['counter', counter]);
    expect(await kernel.call(alice, 'keepEphemeral')).toMatch(/^refused: /);
    await kernel.call(kernel.rootOf('watcher'), 'watchHeld', [durable, 'held']);
    kernel.queueToKref(kernel.rootOf('watcher'), 'watch', [kernel.rootOf('recorder'), 7, 'queued']);
    expect(await kernel.run({ maxCranks: 1 })).toBe(1);
    kernel.close();

    const second = await startTestKernel({ path: file });
    const restarted = second.kernel;
    expect(second.logger.entries.filter((entry) => entry.message === 'vat restarted')).toHaveLength(4);
    await restarted.run();
    expect(await restarted.call(counter, 'increment')).toBe(4);
    expect(await restarted.call((await restarted.call(restarted.rootOf('durable'), 'counter', ['apples'])) as object, 'value')).toBe(4);
    expect(await restarted.call(restarted.rootOf('alice'), 'recall', ['answer'])).toEqual({ n: 42 });
    expect(await restarted.call(restarted.rootOf('recorder'), 'entries')).toEqual([7]);
    expect(await restarted.call(restarted.rootOf('watcher'), 'outcomes')).toEqual({
      queued: 'fulfilled: 1',
      held: expect.stringMatching(/^rejected: promise kp\d+ was lost: vat v1, its decider, restarted$/),
    });
    await expect(restarted.call(ephemeral, 'hello')).rejects.toThrow(/object ko\d+ was lost: vat v1 restarted and the object was not durable/);
    restarted.close();
  });
});

describe('the example vat of each runtime (docs/writing-vats.md, "Two runtimes")', () => {
  it('runs the lean ledger on lean: accounts, transfers, a send-only watcher', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'ledger', bundle: await exampleVat('ledger'), runtime: 'lean' });
    await kernel.createVat({ name: 'watcher', bundle: await testVat('compliance'), runtime: 'lean' });
    const ledger = kernel.rootOf('ledger');
    const alice = (await kernel.call(ledger, 'open', ['alice'])) as object;
    await kernel.call(ledger, 'open', ['bob']);
    expect(await kernel.call(alice, 'deposit', [10])).toBe(10);
    expect(await kernel.call(ledger, 'transfer', ['alice', 'bob', 4, kernel.rootOf('watcher')])).toBe(4);
    await expect(kernel.call(ledger, 'transfer', ['alice', 'bob', 7])).rejects.toThrow('alice has 6, not 7');
    expect(await kernel.call(alice, 'balance')).toBe(6);
    expect(await kernel.call(ledger, 'owners')).toEqual(['alice', 'bob']);
    expect(await kernel.call(kernel.rootOf('watcher'), 'recorded')).toEqual([['alice', 'bob', 4]]);
    kernel.close();
  });

  it('runs the liveslots tally on liveslots; on lean it does not start, and names the runtime it needs', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'tally', bundle: await exampleVat('tally') });
    const poll = (await kernel.call(kernel.rootOf('tally'), 'open', ['lunch?'])) as { ballot: object; chair: object };
    await kernel.call(poll.ballot, 'vote', ['alice', true]);
    await kernel.call(poll.ballot, 'vote', ['bob', false]);
    await expect(kernel.call(poll.ballot, 'vote', ['bob', true])).rejects.toThrow('bob voted already');
    expect(await kernel.call(poll.chair, 'close', [])).toEqual({ question: 'lunch?', yes: 1, no: 1 });
    await expect(kernel.createVat({ name: 'leanTally', bundle: await exampleVat('tally'), runtime: 'lean' })).rejects.toThrow(
      'VatData.defineDurableKindMulti is not in the lean vat runtime: the vat needs runtime "liveslots"',
    );
    kernel.close();
  });
});
