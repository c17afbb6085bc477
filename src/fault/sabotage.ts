/**
 * Deliberate bugs, for proving that the checker can fail. Only the
 * simulation's test-only `sabotage` setting switches one on; no flag,
 * config field or environment variable of the node reaches them.
 */
export const sabotageNames = [
  /** Outbox rows are sent as soon as they are written, before the COMMIT that holds them. */
  'transmit-before-commit',
  /** A `msg` at or below `received_seq` is consumed again instead of dropped. */
  'skip-dedup',
  /** Acks name what was handed to the kernel, before the crank that consumes it commits. */
  'ack-before-commit',
  /** An ack deletes one outbox row more than it acknowledges. */
  'lose-outbox-row',
] as const;

export type Sabotage = (typeof sabotageNames)[number];
