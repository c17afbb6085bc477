import type { Clock, TimerHandle } from '../util/clock.js';

/** The calendar time at a simulation's virtual time 0 (2026-01-01T00:00:00Z): fixed, so that a seed replays exactly. */
export const simulationEpochMs = Date.UTC(2026, 0, 1);

interface Event {
  at: number;
  /** Insertion order: ties in time run in the order they were scheduled. */
  order: number;
  owner: string;
  run: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for a simulation: every timer and every frame arrival is an
 * event here, run one at a time in (time, insertion) order. Nothing else
 * decides an order, so one seed fixes the whole history.
 */
export class Scheduler {
  #now = 0;
  #order = 0;
  /** Kept sorted by (at, order); the simulations are small, so insertion by search is enough. */
  readonly #events: Event[] = [];

  get now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#events.length;
  }

  /** Runs `run` `delayMs` from now on behalf of `owner` (a node, or the simulation itself). */
  after(delayMs: number, owner: string, run: () => void): Event {
    const event: Event = { at: this.#now + Math.max(0, delayMs), order: this.#order++, owner, run, cancelled: false };
    let low = 0;
    let high = this.#events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const other = this.#events[middle] as Event;
      if (other.at < event.at || (other.at === event.at && other.order < event.order)) low = middle + 1;
      else high = middle;
    }
    this.#events.splice(low, 0, event);
    return event;
  }

  /** Drops every event `owner` scheduled: its process died, and its timers with it. */
  cancelOwner(owner: string): void {
    for (const event of this.#events) if (event.owner === owner) event.cancelled = true;
  }

  /** Time of the next live event, if any. */
  peekTime(): number | undefined {
    this.#dropCancelled();
    return this.#events[0]?.at;
  }

  /**
   * Advances time to the next event and runs it; false if there is none.
   * If it is `burstOwner`'s, the events of `burstOwner` due at the same
   * time right after it run too, with nothing between them: frames that
   * arrive together, as the bytes of one read from a socket do.
   */
  runNext(burstOwner?: string): boolean {
    this.#dropCancelled();
    const event = this.#events.shift();
    if (event === undefined) return false;
    this.#now = event.at;
    event.run();
    if (burstOwner === undefined || event.owner !== burstOwner) return true;
    for (;;) {
      this.#dropCancelled();
      const next = this.#events[0];
      if (next === undefined || next.at !== event.at || next.owner !== burstOwner) return true;
      this.#events.shift();
      next.run();
    }
  }

  /** A {@link Clock} whose timers belong to `owner`; its calendar starts at {@link simulationEpochMs}. */
  clockFor(owner: string): Clock {
    return {
      now: () => this.#now,
      epochMs: () => simulationEpochMs + this.#now,
      setTimeout: (callback, ms) => ({ timer: this.after(ms, owner, callback) }),
      clearTimeout: (handle: TimerHandle | undefined) => {
        if (handle !== undefined) (handle.timer as Event).cancelled = true;
      },
    };
  }

  #dropCancelled(): void {
    while (this.#events[0]?.cancelled === true) this.#events.shift();
  }
}
