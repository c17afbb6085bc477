import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { CrankWatchdog } from './crankWatchdog.js';

const deadlineMs = 300;
let watchdog: CrankWatchdog | undefined;
afterEach(async () => {
  await watchdog?.stop();
  watchdog = undefined;
});

const start = async () => (watchdog = await CrankWatchdog.start({ deadlineMs, logger: silentLogger }));

/** A delivery whose work, once it starts, never gives the thread back. */
const endlessLoop = () =>
  Promise.resolve().then(() => {
    for (;;) {
      // a vat's runaway loop
    }
  });

/** Resolves after a timer: the thread's event loop runs. */
const timerFires = () => new Promise<string>((resolve) => setTimeout(() => resolve('timer'), 1));

describe('the crank watchdog', () => {
  it('passes a delivery that finishes on through, with its value', async () => {
    const guard = await start();
    expect(await guard.watch(async () => 42)).toEqual({ done: 42 });
    await expect(guard.watch(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('terminates a delivery stuck in an endless loop; the thread goes on, and so does the next delivery', async () => {
    const guard = await start();
    const outcome = await guard.watch(endlessLoop);
    expect(outcome).toEqual({ abandoned: expect.stringContaining('without giving the thread back, and was terminated') });
    expect(await timerFires()).toBe('timer');
    expect(await guard.watch(async () => 'next')).toEqual({ done: 'next' });
    // Again: the termination of the first did not stay armed, nor wear out.
    expect(await guard.watch(endlessLoop)).toHaveProperty('abandoned');
    expect(await guard.watch(async () => 'after')).toEqual({ done: 'after' });
  });

  it('abandons a delivery that never finishes while the thread is free, without terminating anything', async () => {
    const guard = await start();
    const outcome = await guard.watch(() => new Promise<never>(() => {}));
    expect(outcome).toEqual({ abandoned: `it did not finish in 4 times the crank deadline of ${deadlineMs} ms` });
    expect(await guard.watch(async () => 'next')).toEqual({ done: 'next' });
  });

  it('leaves alone a delivery that keeps the thread busy for less than the deadline', async () => {
    const guard = await start();
    const busy = () =>
      Promise.resolve().then(() => {
        const until = Date.now() + deadlineMs / 3;
        while (Date.now() < until) {
          // work, not a runaway
        }
        return 'finished';
      });
    expect(await guard.watch(busy)).toEqual({ done: 'finished' });
  });
});
