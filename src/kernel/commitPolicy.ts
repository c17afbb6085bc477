import { assert } from '../util/assert.js';

/**
 * When the kernel COMMITs. Cranks between commits share one SQLite
 * transaction (each in its own savepoint); nothing a crank produced leaves
 * the node before the COMMIT that holds it, so grouping cranks trades only
 * latency, never correctness.
 */
export interface CommitLimits {
  /** COMMIT after this many cranks. 1 is the strict mode: a COMMIT per crank. */
  maxCranks: number;
  /** COMMIT once the oldest uncommitted crank is this old (milliseconds). */
  maxDelayMs: number;
}

export const strictCommit: CommitLimits = { maxCranks: 1, maxDelayMs: 0 };
export const defaultGroupCommit: CommitLimits = { maxCranks: 256, maxDelayMs: 10 };

export function checkCommitLimits(limits: CommitLimits): CommitLimits {
  assert(Number.isSafeInteger(limits.maxCranks) && limits.maxCranks >= 1, `maxCranks must be an integer >= 1, got ${limits.maxCranks}`);
  assert(Number.isFinite(limits.maxDelayMs) && limits.maxDelayMs >= 0, `maxDelayMs must be >= 0, got ${limits.maxDelayMs}`);
  return limits;
}

/** Counts uncommitted cranks and says when the limits are reached. The queue running dry is the kernel's call. */
export class CommitPolicy {
  #cranks = 0;
  #oldestAt = 0;

  constructor(
    private readonly limits: CommitLimits,
    private readonly now: () => number,
  ) {
    checkCommitLimits(limits);
  }

  crankDone(): void {
    if (this.#cranks === 0) this.#oldestAt = this.now();
    this.#cranks += 1;
  }

  get due(): boolean {
    return (
      this.#cranks >= this.limits.maxCranks ||
      (this.#cranks > 0 && this.now() - this.#oldestAt >= this.limits.maxDelayMs)
    );
  }

  committed(): void {
    this.#cranks = 0;
  }

  /** True while cranks wait for a COMMIT. */
  get open(): boolean {
    return this.#cranks > 0;
  }

  /** True while the open group is younger than half its delay limit: work begun now mostly ends within it. */
  get young(): boolean {
    return this.now() - this.#oldestAt < this.limits.maxDelayMs / 2;
  }
}
