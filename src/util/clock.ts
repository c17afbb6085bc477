/**
 * Time as the node sees it: real in production, virtual in a simulation,
 * where one seed must fix every timer's order.
 */
export interface Clock {
  /** Milliseconds; only differences mean anything. */
  now(): number;
  /**
   * Milliseconds since the epoch: the calendar time that durable deadlines
   * (timer wake-ups, URL expiries) are stored in, since they must outlive
   * the process, whose {@link Clock.now} starts afresh.
   */
  epochMs(): number;
  /** Calls `callback` once, `ms` from now; the handle cancels it. Never keeps the process alive. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** Opaque: only the clock that made it can cancel it. */
export type TimerHandle = { readonly timer: unknown };

export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return { timer };
  },
  clearTimeout(handle) {
    if (handle !== undefined) clearTimeout(handle.timer as NodeJS.Timeout);
  },
};
