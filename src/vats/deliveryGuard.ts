/**
 * What the kernel runs every vat delivery through: it settles with the
 * delivery's outcome, or says the delivery was abandoned (it ran past its
 * deadline). An abandoned delivery's vat heap is lost: the kernel rolls the
 * crank back and fails the vat.
 */
export interface DeliveryGuard {
  watch<T>(delivery: () => Promise<T>): Promise<Guarded<T>>;
  /** Stops watching (the node stops); later deliveries run unwatched. */
  stop(): Promise<void>;
}

export type Guarded<T> = { done: T } | { abandoned: string };

/** Deliveries run as they are (a simulation, a test kernel, a one-shot command): nothing is abandoned. */
export const unguarded: DeliveryGuard = Object.freeze({
  watch: async <T>(delivery: () => Promise<T>): Promise<Guarded<T>> => ({ done: await delivery() }),
  stop: async () => {},
});
