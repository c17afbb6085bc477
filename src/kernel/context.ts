import type { KernelStore } from '../store/index.js';
import type { KernelMessage, KObjectRef, KPromiseRef, KRef, RemoteId } from '../store/types.js';
import type { KernelService } from './services.js';
import type { CrankBuffer, Settlement } from './crankBuffer.js';
import type { Refcounts } from './refcounts.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';



/**
 * The remote layer, as the kernel's router sees it: called inside the crank
 * that routes a message or notification to a remote endpoint, it turns them
 * into outbox rows in that same crank.
 */
export interface RemoteRouter {
  /** `message` for `target`, an object `endpoint` exports or a promise it decides. */
  send(context: KernelContext, endpoint: RemoteId, target: KRef, message: KernelMessage): void;
  /** Tells `endpoint`, a subscriber, how `kpid` was settled. */
  notify(context: KernelContext, endpoint: RemoteId, kpid: KPromiseRef): void;
}

/** What every part of the kernel works with during a crank. */
export interface KernelContext {
  store: KernelStore;
  buffer: CrankBuffer;
  refs: Refcounts;
  logger: Logger;
  /** In-memory waiters of the kernel's host, by promise; they run after commit. */
  waiters: Map<KPromiseRef, (settlement: Settlement) => void>;
  /** Set once the node has a remote layer; without one, remote endpoints cannot exist. */
  remotes: RemoteRouter | undefined;
  /** The kernel's service objects, by kref (owned by `kernel`). */
  services: Map<KObjectRef, KernelService>;
  /** The node's clock: what durable deadlines (URL expiries, timers) are judged by. */
  clock: Clock;
}
