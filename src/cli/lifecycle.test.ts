import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { stopOnSignal } from './lifecycle.js';

// Node calls a signal's listeners with the signal's name, as process.emit(name, name) does here.
const signals = ['SIGTERM', 'SIGINT'] as const;
let before: Map<string, Function[]>;
beforeEach(() => {
  before = new Map(signals.map((signal) => [signal, process.listeners(signal)]));
});
afterEach(() => {
  // Only the listeners this test's stopOnSignal added.
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.off(signal, listener as NodeJS.SignalsListener);
    }
  }
  vi.restoreAllMocks();
});

describe('lifecycle: stop signals', () => {
  it('the first signal stops the node once and exits 0', async () => {
    const stop = vi.fn(async () => {});
    const code = stopOnSignal(stop, silentLogger);
    process.emit('SIGTERM', 'SIGTERM');
    expect(await code).toBe(0);
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it('a second signal while stopping exits at once with 128 + its number', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const stop = vi.fn(() => new Promise<void>(() => {})); // a stop that hangs
    void stopOnSignal(stop, silentLogger);
    process.emit('SIGINT', 'SIGINT');
    expect(exit).not.toHaveBeenCalled();
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(143);
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it('a stop that fails exits 1', async () => {
    const code = stopOnSignal(() => Promise.reject(new Error('disk gone')), silentLogger);
    process.emit('SIGINT', 'SIGINT');
    expect(await code).toBe(1);
  });
});
