import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** How often one peer may make the node log the same kind of warning (at most one line in each such span). */
export const peerWarningIntervalMs = 10_000;

/** Most peers whose warnings are tracked at once; beyond it the oldest is forgotten (it only costs an extra line). */
const trackedPeersMax = 4096;

interface Run {
  loggedAt: number;
  suppressed: number;
}

/**
 * Warnings a remote peer can cause, rate-limited per peer and kind: the
 * first of a run is logged; the others in the next {@link peerWarningIntervalMs}
 * are counted, and the next line logged says how many were left out
 * (`suppressed`). A peer cannot make the node's log grow faster than one
 * line per kind per interval, however many frames or connections it spends.
 */
export class PeerWarnings {
  readonly #runs = new Map<string, Run>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly intervalMs = peerWarningIntervalMs,
  ) {}

  /** Logs `message` with `fields` (and `peerId`) unless this peer had a warning of this `kind` logged within the interval. */
  warn(peerId: string, kind: string, fields: object, message: string): void {
    const key = `${kind}\u0000${peerId}`;
    const now = this.clock.now();
    const run = this.#runs.get(key);
    if (run !== undefined && now - run.loggedAt < this.intervalMs) {
      run.suppressed += 1;
      return;
    }
    const suppressed = run?.suppressed ?? 0;
    this.#runs.delete(key);
    if (this.#runs.size >= trackedPeersMax) {
      const oldest = this.#runs.keys().next();
      if (oldest.done !== true) this.#runs.delete(oldest.value);
    }
    this.#runs.set(key, { loggedAt: now, suppressed: 0 });
    this.logger.warn(suppressed > 0 ? { peerId, ...fields, suppressed } : { peerId, ...fields }, message);
  }
}
