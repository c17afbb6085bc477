import { describe, expect, it } from 'vitest';
import { startTestKernel, testVat } from '../../test/support/harness.js';
import { vatRuntimes } from './vatInstance.js';

/**
 * The patches in patches/ (of @endo/marshal, @endo/eventual-send,
 * @endo/patterns and liveslots) stop hardening temporaries that never reach
 * vat code. This suite checks, from inside a vat (test/vats/hardening.js), on
 * each runtime, that everything that does reach vat code is still frozen all
 * the way down: delivered arguments, presences, promises, what E() hands out,
 * what a send does to its arguments, results, what a vat returns, and what a
 * durable collection gives back.
 */
describe.each(vatRuntimes)('what a vat can reach is hardened: %s', (runtime) => {
  async function twoVats() {
    const test = await startTestKernel();
    const bundle = await testVat('hardening');
    await test.kernel.createVat({ name: 'alice', bundle, runtime });
    await test.kernel.createVat({ name: 'bob', bundle, runtime });
    return { ...test, alice: test.kernel.rootOf('alice'), bob: test.kernel.rootOf('bob') };
  }

  it('delivered arguments: records, presences and promises', async () => {
    const { kernel, alice, bob } = await twoVats();
    expect(await kernel.call(alice, 'sendArguments', [bob, alice])).toEqual({
      record: true,
      presence: true,
      promise: true,
    });
    kernel.close();
  });

  it('E(): the method, its result promise, the argument sent, the result; E.sendOnly; a vat sending to itself; E.get', async () => {
    const { kernel, alice, bob } = await twoVats();
    expect(await kernel.call(alice, 'inspectSend', [bob])).toEqual({
      // The proxy itself was never hardened (its target stays trapping), but it refuses changes.
      proxyIsFrozen: true,
      method: true,
      resultPromise: true,
      argument: true,
      sentOnly: true,
      result: true,
      resultValue: { list: [1, { deep: 'yes' }], inner: { x: 'y' } },
    });
    expect(await kernel.call(alice, 'inspectLocal', [])).toEqual({
      viaE: true,
      viaEValue: { twice: [3, 3] },
      got: true,
      gotValue: { v: 1 },
    });
    kernel.close();
  });

  it('what a vat returns is hardened once it is returned', async () => {
    const { kernel, alice } = await twoVats();
    expect(await kernel.call(alice, 'makeAndReturn', [])).toEqual({ made: [1, { two: 2 }] });
    expect(await kernel.call(alice, 'returnedIsHardened', [])).toBe(true);
    kernel.close();
  });

  it('what a durable collection gives back, in later deliveries', async () => {
    const { kernel, alice } = await twoVats();
    expect(await kernel.call(alice, 'put', ['k', { v: [1, { w: 'x' }] }])).toBe(1);
    expect(await kernel.call(alice, 'inspectStored', ['k'])).toEqual({ frozen: true, value: { v: [1, { w: 'x' }] } });
    expect(await kernel.call(alice, 'put', ['k', { v: [2] }])).toBe(1);
    expect(await kernel.call(alice, 'put', ['l', 'second'])).toBe(2);
    expect(await kernel.call(alice, 'inspectStored', ['k'])).toEqual({ frozen: true, value: { v: [2] } });
    kernel.close();
  });
});
