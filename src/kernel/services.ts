import type { KPromiseRef } from '../store/types.js';
import type { KernelContext } from './context.js';

/**
 * An object the kernel itself answers, inside the crank that delivers a
 * message to it (as SwingSet's kernel services do). Vats get services as
 * ordinary references, usually through their parameters.
 */
export interface KernelService {
  /**
   * Handles `method(...args)`. It settles `result` itself (now, or by
   * handing it on, as a redeem does to a peer); throwing rejects `result`
   * with the error's message. Args are decoded: references are kernel
   * presences.
   */
  invoke(context: KernelContext, method: string, args: unknown[], result: KPromiseRef | null): void;
}
