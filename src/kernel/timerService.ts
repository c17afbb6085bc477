import type { CrashPoints } from '../fault/crashPoints.js';
import type { KObjectRef, KPromiseRef } from '../store/types.js';
import type { TimerRecord } from '../store/timers.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { KernelContext } from './context.js';
import type { ExternalWork } from './kernel.js';
import { encode, krefOf } from './kmarshal.js';
import { resolvePromise } from './resolve.js';
import type { KernelService } from './services.js';

/** Wake-ups the node holds at once, over every vat: a vat that schedules without end is refused past it. */
export const timersMax = 100_000;
/** The furthest a wake-up may be scheduled: ten years (further is a mistake more often than a wish). */
export const timerHorizonMaxMs = 10 * 365 * 24 * 3600 * 1000;
/** The shortest interval of a repeating wake-up: one shorter would keep the node waking a vat all the time. */
export const repeatIntervalMinMs = 100;
/** Wake-ups fired per crank: a backlog (a node that was down) is worked off in cranks of this size. */
const firesPerCrank = 256;
/** The longest the node's clock is asked to wait at once (setTimeout's own bound is 24.8 days); it then looks again. */
const armMaxMs = 3_600_000;

/** What the timer service needs of the kernel: to run a crank of its own when wake-ups come due. */
export interface TimerKernel {
  queueExternal(work: ExternalWork): void;
  run(): Promise<number>;
}

/**
 * The durable timer service (`E(timer).delay(ms)`, `wakeAt(time, handler)`,
 * `wakeAfter(delayMs, handler)`, `repeat(delayMs, intervalMs, handler)`,
 * `cancel(handler)`, `now()`), on
 * the node's injected clock (a simulation's is virtual). Times are epoch
 * milliseconds, so that they keep their meaning across restarts.
 *
 * A wake-up is an exactly-once delivery: the crank that schedules it
 * writes its row (a crank rolled back schedules nothing); the crank that
 * fires it deletes the row (or moves a repeating one on) and, in the same
 * savepoint, queues `wake(time)` to the handler or settles the `delay`'s
 * promise. The run queue then delivers that once. Whichever instant the
 * node dies at, the row is there until the firing commits, so a wake-up
 * due while the node was down fires at the next start, and one that fired
 * does not fire again. Memory holds only the clock's alarm, set from what
 * is committed: after each crank that scheduled or fired, and at start.
 */
export class TimerService {
  readonly service: KernelService;
  #alarm: TimerHandle | undefined;
  /** When the alarm is set for (epoch ms); undefined while none is. */
  #alarmAtMs: number | undefined;
  #stopped = false;

  constructor(
    private readonly kernel: TimerKernel,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly crashPoints?: CrashPoints,
  ) {
    this.service = { invoke: (context, method, args, result) => this.#invoke(context, method, args, result) };
  }

  /** Sets the alarm for the earliest wake-up the store holds (one due while the node was down fires at once). */
  start(earliestDueMs: number | undefined): void {
    this.#stopped = false;
    if (earliestDueMs !== undefined) this.#arm(earliestDueMs);
  }

  /** No more alarms: the node is stopping. What is scheduled stays in the store for the next start. */
  stop(): void {
    this.#stopped = true;
    this.clock.clearTimeout(this.#alarm);
    this.#alarm = undefined;
    this.#alarmAtMs = undefined;
  }

  #invoke(context: KernelContext, method: string, args: unknown[], result: KPromiseRef | null): void {
    const { store, refs } = context;
    const nowMs = this.clock.epochMs();
    const answer = (value: unknown) => {
      if (result !== null) resolvePromise(context, result, false, encode(value));
    };
    switch (method) {
      case 'now':
        answer(nowMs);
        return;
      case 'delay': {
        if (result === null) throw new TypeError('delay(ms) needs a result promise: it is how the delay ends');
        const dueMs = nowMs + delayOf(args[0], 'delay(ms): ms');
        this.#assertRoom(context);
        store.timers.addDelay(dueMs, result);
        refs.incref(result);
        this.#armAfterCommit(context, dueMs);
        return;
      }
      case 'wakeAt': {
        const dueMs = timeOf(args[0], nowMs);
        const handler = handlerOf(args[1], 'wakeAt(time, handler)');
        this.#schedule(context, dueMs, handler, null);
        answer(dueMs);
        return;
      }
      case 'wakeAfter': {
        const dueMs = nowMs + delayOf(args[0], 'wakeAfter(delayMs, handler): delayMs');
        this.#schedule(context, dueMs, handlerOf(args[1], 'wakeAfter(delayMs, handler)'), null);
        answer(dueMs);
        return;
      }
      case 'repeat': {
        const dueMs = nowMs + delayOf(args[0], 'repeat(delayMs, intervalMs, handler): delayMs');
        const intervalMs = delayOf(args[1], 'repeat(delayMs, intervalMs, handler): intervalMs');
        if (intervalMs < repeatIntervalMinMs) throw new RangeError(`repeat(delayMs, intervalMs, handler): intervalMs must be at least ${repeatIntervalMinMs}, not ${intervalMs}`);
        this.#schedule(context, dueMs, handlerOf(args[2], 'repeat(delayMs, intervalMs, handler)'), intervalMs);
        answer(dueMs);
        return;
      }
      case 'cancel': {
        const handler = handlerOf(args[0], 'cancel(handler)');
        const removed = store.timers.removeOf(handler);
        for (let n = 0; n < removed; n += 1) refs.decref(handler);
        answer(removed);
        return;
      }
      default:
        throw new TypeError(`the timer service has no method ${JSON.stringify(method)} (it has now, delay, wakeAt, wakeAfter, repeat, cancel)`);
    }
  }

  #schedule(context: KernelContext, dueMs: number, handler: KObjectRef, intervalMs: number | null): void {
    this.#assertRoom(context);
    context.store.timers.addWake(dueMs, handler, intervalMs);
    context.refs.incref(handler);
    this.#armAfterCommit(context, dueMs);
  }

  #assertRoom(context: KernelContext): void {
    if (context.store.timers.count() >= timersMax) throw new RangeError(`the node holds ${timersMax} wake-ups already: cancel some first`);
  }

  /** The alarm may move earlier only once the crank that scheduled `dueMs` is committed: a rolled-back one scheduled nothing. */
  #armAfterCommit(context: KernelContext, dueMs: number): void {
    context.buffer.postCommit.push(() => this.#arm(dueMs));
  }

  #arm(dueMs: number): void {
    if (this.#stopped || (this.#alarmAtMs !== undefined && this.#alarmAtMs <= dueMs)) return;
    this.clock.clearTimeout(this.#alarm);
    this.#alarmAtMs = dueMs;
    const waitMs = Math.min(Math.max(0, dueMs - this.clock.epochMs()), armMaxMs);
    this.#alarm = this.clock.setTimeout(() => this.#ring(), waitMs);
  }

  /** The alarm went off: a crank fires what is due, and sets the alarm again for what is left. */
  #ring(): void {
    this.#alarm = undefined;
    this.#alarmAtMs = undefined;
    if (this.#stopped) return;
    this.kernel.queueExternal({
      apply: (context) => this.#fire(context),
      // Firing takes no input that could be refused: whatever stops it stops the kernel.
      failed: (error) => {
        throw error;
      },
    });
    this.kernel.run().catch((error: unknown) => this.logger.error({ err: error }, 'kernel stopped'));
  }

  #fire(context: KernelContext): void {
    const { store, buffer } = context;
    const nowMs = this.clock.epochMs();
    const due = store.timers.due(nowMs, firesPerCrank);
    for (const timer of due) fireOne(context, timer, nowMs);
    if (due.length > 0) this.crashPoints?.pass('timer-fire-crank');
    const next = store.timers.earliestDueMs();
    if (next !== undefined) buffer.postCommit.push(() => this.#arm(next));
  }
}

/** Fires one wake-up that is due, inside the crank: its effect and its row's end (or move) commit together. */
function fireOne(context: KernelContext, timer: TimerRecord, nowMs: number): void {
  const { store, refs, buffer } = context;
  if (timer.kind === 'delay') {
    store.timers.remove(timer.id);
    resolvePromise(context, timer.result, false, encode(nowMs));
    refs.decref(timer.result);
    return;
  }
  const handler = store.objects.get(timer.handler);
  if (handler === undefined || handler.owner === null) {
    // Its vat is gone (terminated, or the object lost at a restart): nobody to wake, now or later.
    store.timers.remove(timer.id);
    refs.decref(timer.handler);
    return;
  }
  const message = { methargs: encode(['wake', [timer.dueMs]]), result: null };
  refs.increfMessage(message, timer.handler);
  buffer.sends.push({ target: timer.handler, message });
  if (timer.intervalMs === null) {
    store.timers.remove(timer.id);
    refs.decref(timer.handler);
  } else {
    // The next due time after now: a repeater that missed several (the node was down) wakes once for them.
    store.timers.reschedule(timer.id, timer.dueMs + timer.intervalMs * (Math.floor((nowMs - timer.dueMs) / timer.intervalMs) + 1));
  }
}

function delayOf(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > timerHorizonMaxMs) {
    throw new RangeError(`${what} must be a whole number of milliseconds from 0 to ${timerHorizonMaxMs}, not ${String(value)}`);
  }
  return value;
}

function timeOf(value: unknown, nowMs: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > nowMs + timerHorizonMaxMs) {
    throw new RangeError(`wakeAt(time, handler): time must be a whole number of epoch milliseconds, at most ${timerHorizonMaxMs} ms from now, not ${String(value)}`);
  }
  return value;
}

function handlerOf(value: unknown, what: string): KObjectRef {
  const kref = krefOf(value);
  if (kref === undefined || !kref.startsWith('ko')) throw new TypeError(`${what}: handler must be an object with a wake(time) method`);
  return kref as KObjectRef;
}
