import type { TokenBucket } from './tokenBucket.js';

/**
 * The receiver's side of flow control with one peer: how far the peer may
 * send (`granted`, a sequence number it learns from the `window` of every
 * frame this node sends it). Credit is paid for from the peer's inbound
 * rate (a token bucket) when it is granted, not when frames arrive, so a
 * peer over the rate is told to wait instead of having its frames dropped
 * and sent again: an honest sender never sends past its window. What a
 * sender does send past it is dropped (the sender broke the rule, or this
 * node restarted and forgot what it granted), and sent again later.
 *
 * Memory only: a restarted node grants afresh, from its received seq.
 */
export class InboundCredit {
  #granted: number;

  constructor(
    private readonly bucket: TokenBucket,
    /** Most frames granted beyond what has been received. */
    private readonly windowFrames: number,
    receivedSeq: number,
  ) {
    this.#granted = receivedSeq;
    this.topUp(receivedSeq);
  }

  /** The highest seq the peer may send now. */
  get granted(): number {
    return this.#granted;
  }

  /**
   * Whether a `msg` of `seq` may be taken: only within the grant. (A sender
   * that does not know its window yet, after a restart of either side, may
   * send its first unacked message: taken if the grant covers it, as it
   * does unless the peer is over its rate, and sent again otherwise.)
   */
  admits(seq: number): boolean {
    return seq <= this.#granted;
  }

  /**
   * Grants more once less than half a window is left beyond `queuedSeq`
   * (the highest seq handed to the kernel), as much as the bucket holds, up
   * to a whole window. Returns true if the grant grew. Granting in halves
   * keeps window updates to about two per window of frames.
   */
  topUp(queuedSeq: number): boolean {
    const left = this.#granted - queuedSeq;
    if (left >= this.windowFrames / 2) return false;
    const granted = this.bucket.takeUpTo(this.windowFrames - Math.max(0, left));
    this.#granted = Math.max(this.#granted, queuedSeq) + granted;
    return granted > 0;
  }

  /**
   * When to try {@link topUp} again if it could not grant enough now (the
   * bucket is empty): the time until a quarter window of tokens is saved.
   * Undefined if there is no need.
   */
  refillDelayMs(queuedSeq: number): number | undefined {
    if (this.#granted - queuedSeq >= this.windowFrames / 2) return undefined;
    return Math.max(1, this.bucket.msUntil(Math.max(1, Math.floor(this.windowFrames / 4))));
  }

  /** The pair's sequence numbers started over (peer amnesia): grant from `receivedSeq` again. */
  reset(receivedSeq: number): void {
    this.#granted = receivedSeq;
    this.topUp(receivedSeq);
  }
}
