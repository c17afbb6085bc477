import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exampleVat, startTestKernel, testVat } from '../support/harness.js';

const directories: string[] = [];
afterEach(() => directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true })));

function storePath(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'ken-restart-'));
  directories.push(directory);
  return path.join(directory, 'kernel.sqlite');
}

describe('restart: vats come back from their durable state', () => {
  it('keeps durable objects, baggage and pending promises; rejects ephemeral ones clearly', async () => {
    const file = storePath();
    const first = await startTestKernel({ path: file });
    {
      const { kernel } = first;
      await kernel.createVat({ name: 'durable', bundle: await testVat('durable') });
      await kernel.createVat({ name: 'watcher', bundle: await testVat('durable') });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    }
    const { kernel } = first;
    const durable = kernel.rootOf('durable');
    const counter = (await kernel.call(durable, 'makeCounter', ['apples'])) as object;
    for (let i = 0; i < 3; i += 1) await kernel.call(counter, 'increment');
    const ephemeral = (await kernel.call(durable, 'makeEphemeral')) as object;
    expect(await kernel.call(ephemeral, 'hello')).toBe('hello');
    // A promise decided in the heap of `durable`, watched durably by `watcher`.
    await kernel.call(kernel.rootOf('watcher'), 'watchHeld', [durable, 'held']);
    // A message whose result `watcher` watches, left in the run queue: one crank, then stop.
    kernel.queueToKref(kernel.rootOf('watcher'), 'watch', [kernel.rootOf('recorder'), 7, 'queued']);
    expect(await kernel.run({ maxCranks: 1 })).toBe(1);
    expect(kernel.runQueueLength).toBe(1);
    expect(first.store.vats.getByName('durable')).toMatchObject({ state: 'live' });
    kernel.close();

    const second = await startTestKernel({ path: file });
    const restarted = second.kernel;
    expect(second.logger.entries.filter((entry) => entry.message === 'vat restarted')).toHaveLength(3);
    await restarted.run();
    // Durable object and its state, through the same kernel reference and through baggage.
    expect(await restarted.call(counter, 'increment')).toBe(4);
    expect(await restarted.call(await restarted.call(restarted.rootOf('durable'), 'counter', ['apples']) as object, 'value')).toBe(4);
    // The queued message was delivered and the durable watcher saw its result.
    expect(await restarted.call(restarted.rootOf('recorder'), 'entries')).toEqual([7]);
    expect(await restarted.call(restarted.rootOf('watcher'), 'outcomes')).toEqual({
      queued: 'fulfilled: 1',
      held: expect.stringMatching(/^rejected: promise kp\d+ was lost: vat v1, its decider, restarted$/),
    });
    // The ephemeral object did not survive, and says so.
    await expect(restarted.call(ephemeral, 'hello')).rejects.toThrow(
      /object ko\d+ was lost: vat v1 restarted and the object was not durable/,
    );
    restarted.close();
  });
});
