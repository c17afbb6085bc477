/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up.
 * `take()` spends one if there is one. Time comes from `now` (ms), so a
 * simulation's clock drives it as well as the real one.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError(`a token bucket needs a rate above 0 and a burst of 1 or more, got ${ratePerSecond}/s, ${burst}`);
    this.#tokens = burst;
    this.#updatedAt = now();
  }

  take(): boolean {
    return this.takeUpTo(1) === 1;
  }

  /** Spends as many whole tokens as there are, up to `wanted`; returns how many. */
  takeUpTo(wanted: number): number {
    this.#refill();
    const taken = Math.max(0, Math.min(wanted, Math.floor(this.#tokens)));
    this.#tokens -= taken;
    return taken;
  }

  /** Milliseconds until `count` whole tokens (at most the burst) are saved up; 0 if they are now. */
  msUntil(count: number): number {
    this.#refill();
    const missing = Math.min(count, this.burst) - this.#tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.ratePerSecond);
  }

  #refill(): void {
    const now = this.now();
    // A clock that steps back (it should not) refills nothing rather than draining.
    this.#tokens = Math.min(this.burst, this.#tokens + (Math.max(0, now - this.#updatedAt) * this.ratePerSecond) / 1000);
    this.#updatedAt = now;
  }
}
