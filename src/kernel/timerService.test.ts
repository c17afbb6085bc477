import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestKernel, testVat, type TestKernel } from '../../test/support/harness.js';
import { CrashPoints } from '../fault/crashPoints.js';
import { Scheduler, simulationEpochMs } from '../sim/scheduler.js';
import { vatRuntimes, type VatRuntime } from '../vats/vatInstance.js';
import { TimerService } from './timerService.js';

const directories: string[] = [];
afterEach(() => directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true })));

/**
 * A kernel with the timer service on a virtual clock (the simulation's
 * scheduler), and a sleeper vat given the service. `owner` names the
 * "process": a crash cancels its alarms, as a dead process's timers go.
 */
async function sleeperKernel(scheduler: Scheduler, owner: string, options: { path?: string; runtime?: VatRuntime; crashPoints?: CrashPoints } = {}) {
  const clock = scheduler.clockFor(owner);
  const test = await startTestKernel({ path: options.path, durability: 'process', clock, crashPoints: options.crashPoints });
  const timers = new TimerService(test.kernel, clock, test.logger, options.crashPoints);
  const timer = test.kernel.registerService('timer', timers.service);
  if (!test.kernel.hasVat('sleeper')) await test.kernel.createVat({ name: 'sleeper', bundle: await testVat('sleeper'), parameters: { timer }, runtime: options.runtime });
  timers.start(test.store.timers.earliestDueMs());
  return { ...test, sleeper: test.kernel.rootOf('sleeper') };
}

/** Moves virtual time to `ms` (since the scheduler's start), letting each alarm's crank run to its commit; no kernel: the node is down. */
async function advanceTo(scheduler: Scheduler, test: TestKernel | undefined, ms: number): Promise<void> {
  scheduler.after(ms - scheduler.now, 'test', () => {});
  for (let events = 0; events < 1_000 && (scheduler.peekTime() ?? Infinity) <= ms; events += 1) {
    scheduler.runNext();
    await test?.kernel.run();
  }
}

const at = (ms: number) => simulationEpochMs + ms;

describe.each(vatRuntimes)('the timer service, for a vat on %s', (runtime) => {
  it('delays, wakes once at a time, repeats at its interval, and cancels, on the injected clock', async () => {
    const scheduler = new Scheduler();
    const test = await sleeperKernel(scheduler, 'node', { runtime });
    const { kernel, sleeper } = test;
    expect(await kernel.call(sleeper, 'now')).toBe(at(0));
    const nap = kernel.queueToKref(sleeper, 'nap', [500]);
    expect(await kernel.call(sleeper, 'wakeAt', [at(300), 'once'])).toBe(at(300));
    expect(await kernel.call(sleeper, 'repeat', [100, 250, 'often'])).toBe(at(100));
    expect(await kernel.call(sleeper, 'wakeAt', [at(900), 'cancelled'])).toBe(at(900));
    expect(await kernel.call(sleeper, 'wakeAfter', [700, 'after'])).toBe(at(700));

    await advanceTo(scheduler, test, 600);
    expect(await nap).toBe(at(500));
    expect(await kernel.call(sleeper, 'wakes', ['once'])).toEqual([at(300)]);
    expect(await kernel.call(sleeper, 'wakes', ['often'])).toEqual([at(100), at(350), at(600)]);
    expect(await kernel.call(sleeper, 'cancel', ['cancelled'])).toBe(1);
    expect(await kernel.call(sleeper, 'cancel', ['often'])).toBe(1);
    await advanceTo(scheduler, test, 2_000);
    expect(await kernel.call(sleeper, 'wakes', ['cancelled'])).toEqual([]);
    expect(await kernel.call(sleeper, 'wakes', ['often'])).toHaveLength(3);
    expect(await kernel.call(sleeper, 'wakes', ['once'])).toEqual([at(300)]);
    expect(await kernel.call(sleeper, 'wakes', ['after'])).toEqual([at(700)]);
    expect(test.store.timers.count()).toBe(0);

    await expect(kernel.call(sleeper, 'nap', [-1])).rejects.toThrow('delay(ms): ms must be a whole number of milliseconds from 0 to');
    await expect(kernel.call(sleeper, 'repeat', [0, 10, 'x'])).rejects.toThrow('intervalMs must be at least 100, not 10');
    await expect(kernel.call(sleeper, 'wakeAt', ['soon', 'x'])).rejects.toThrow('time must be a whole number of epoch milliseconds');
    kernel.close();
  });
});

describe('wake-ups are exactly once across crashes', () => {
  it('one due while the node was down fires at the next start, once; a repeater that missed several wakes once for them', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'ken-timers-'));
    directories.push(directory);
    const file = path.join(directory, 'kernel.sqlite');
    const scheduler = new Scheduler();
    const first = await sleeperKernel(scheduler, 'first', { path: file });
    await first.kernel.call(first.sleeper, 'wakeAt', [at(1_000), 'late']);
    await first.kernel.call(first.sleeper, 'repeat', [500, 1_000, 'often']);
    // The process dies (its alarms with it) with the wake-ups committed and not due.
    scheduler.cancelOwner('first');
    first.store.close();

    await advanceTo(scheduler, undefined, 5_200);
    const second = await sleeperKernel(scheduler, 'second', { path: file });
    await advanceTo(scheduler, second, 5_200);
    expect(await second.kernel.call(second.sleeper, 'wakes', ['late'])).toEqual([at(1_000)]);
    expect(await second.kernel.call(second.sleeper, 'wakes', ['often'])).toEqual([at(500)]);
    await advanceTo(scheduler, second, 5_600);
    expect(await second.kernel.call(second.sleeper, 'wakes', ['often'])).toEqual([at(500), at(5_500)]);
    second.kernel.close();
  });

  it('a crank that fired wake-ups and died before its COMMIT fires them again at the next start, once', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'ken-timers-'));
    directories.push(directory);
    const file = path.join(directory, 'kernel.sqlite');
    const scheduler = new Scheduler();
    const crashPoints = new CrashPoints(undefined, (point) => {
      scheduler.cancelOwner('first');
      first.store.close();
      throw new Error(`died at ${point}`);
    });
    const first = await sleeperKernel(scheduler, 'first', { path: file, crashPoints });
    await first.kernel.call(first.sleeper, 'wakeAt', [at(1_000), 'once']);
    crashPoints.arm({ point: 'timer-fire-crank', occurrence: 1 });
    // The kernel stops on it (its store is gone under it).
    await expect(advanceTo(scheduler, first, 1_000)).rejects.toThrow(/kernel panic/);
    expect(crashPoints.passed.get('timer-fire-crank')).toBe(1);

    const second = await sleeperKernel(scheduler, 'second', { path: file });
    await advanceTo(scheduler, second, 1_500);
    expect(await second.kernel.call(second.sleeper, 'wakes', ['once'])).toEqual([at(1_000)]);
    expect(second.store.timers.count()).toBe(0);
    second.kernel.close();
  });
});
