import type { KernelStore } from '../store/index.js';
import type { KPromiseRef } from '../store/types.js';
import type { CrankBuffer, Settlement } from './crankBuffer.js';
import type { Refcounts } from './refcounts.js';
import type { Logger } from '../util/logger.js';



/** What every part of the kernel works with during a crank. */
export interface KernelContext {
  store: KernelStore;
  buffer: CrankBuffer;
  refs: Refcounts;
  logger: Logger;
  /** In-memory waiters of the kernel's host, by promise; they run after commit. */
  waiters: Map<KPromiseRef, (settlement: Settlement) => void>;
}
