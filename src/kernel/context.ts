import type { KernelStore } from '../store/index.js';
import type { KPromiseRef } from '../store/types.js';
import type { CrankBuffer, Settlement } from './crankBuffer.js';
import type { Refcounts } from './refcounts.js';

/** The log methods the kernel uses; pino's logger satisfies it. */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** What every part of the kernel works with during a crank. */
export interface KernelContext {
  store: KernelStore;
  buffer: CrankBuffer;
  refs: Refcounts;
  logger: Logger;
  /** In-memory waiters of the kernel's host, by promise; they run after commit. */
  waiters: Map<KPromiseRef, (settlement: Settlement) => void>;
}
