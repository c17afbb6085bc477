import type { KernelStore } from '../store/index.js';
import type { VatId } from '../store/types.js';

/**
 * How many process deaths a delivery may be in progress at before it is
 * quarantined: not delivered again, so that it cannot wedge every restart.
 * Three, so that chance (a SIGKILL that happens to land in a delivery) never
 * reaches it: the count of a delivery that finishes once starts over.
 */
export const poisonDeliveryLimit = 3;

const metaKey = 'deliveryCrashes';

/**
 * The deliveries the process died in, by key (see {@link deliveryKey}),
 * with how many times. Kept in `kernel_meta`, written in cranks; it is
 * empty unless something died, so what it costs a delivery is one lookup.
 */
export class DeliveryCrashes {
  readonly #store: KernelStore;
  readonly #counts: Map<string, number>;

  constructor(store: KernelStore) {
    this.#store = store;
    this.#counts = new Map(Object.entries(JSON.parse(store.meta.get(metaKey) ?? '{}') as Record<string, number>));
  }

  /** One more death during `key`; in a crank. Returns the count. */
  add(key: string): number {
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    this.#save();
    return count;
  }

  /** The deaths during `key`, if they reached {@link poisonDeliveryLimit}. */
  poison(key: string): number | undefined {
    const count = this.#counts.get(key);
    return count !== undefined && count >= poisonDeliveryLimit ? count : undefined;
  }

  /** `key` finished, or was quarantined: its count goes, in the crank's transaction. */
  clear(key: string): void {
    if (this.#counts.delete(key)) this.#save();
  }

  #save(): void {
    this.#store.meta.set(metaKey, JSON.stringify(Object.fromEntries(this.#counts)));
  }
}

/**
 * What names a delivery across restarts: its vat and what it delivers (a
 * queue entry's id, which a committed entry keeps; a GC action's; a reap).
 */
export function deliveryKey(vatId: VatId, what: string): string {
  return `${vatId} ${what}`;
}
