import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.js';

describe('simulation scheduler', () => {
  it('runs events in (time, insertion) order, one per runNext', () => {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    scheduler.after(5, 'network', () => ran.push('b'));
    scheduler.after(1, 'driver', () => ran.push('a'));
    scheduler.after(5, 'network', () => ran.push('c'));
    expect(scheduler.runNext()).toBe(true);
    expect(scheduler.runNext()).toBe(true);
    expect(ran).toEqual(['a', 'b']);
    expect(scheduler.now).toBe(5);
  });

  it('runs a burst owner\'s events due at the same time together, and stops at another owner or another time', () => {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    for (const name of ['f1', 'f2']) scheduler.after(3, 'network', () => ran.push(name));
    scheduler.after(3, 'n1', () => ran.push('timer'));
    scheduler.after(3, 'network', () => ran.push('f3'));
    const cancelled = scheduler.after(3, 'network', () => ran.push('lost'));
    cancelled.cancelled = true;
    scheduler.after(4, 'network', () => ran.push('f4'));
    scheduler.runNext('network');
    expect(ran).toEqual(['f1', 'f2']);
    scheduler.runNext('network');
    expect(ran).toEqual(['f1', 'f2', 'timer']);
    scheduler.runNext('network');
    expect(ran).toEqual(['f1', 'f2', 'timer', 'f3']);
    scheduler.runNext('network');
    expect(ran).toEqual(['f1', 'f2', 'timer', 'f3', 'f4']);
    expect(scheduler.runNext('network')).toBe(false);
  });
});
