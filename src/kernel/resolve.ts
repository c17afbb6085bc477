import type { CapData, KPromiseRef, KRef } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { KernelContext } from './context.js';
import { errorCapData } from './kmarshal.js';

/**
 * Settles a kernel promise. Subscribers get a notification, messages queued
 * on the promise go back to the run queue (they will be routed to whatever it
 * resolved to), and a host waiter is scheduled to run after the commit. All
 * outputs go through the crank buffer.
 */
export function resolvePromise(
  context: KernelContext,
  kpid: KPromiseRef,
  rejected: boolean,
  data: CapData<KRef>,
): void {
  const { store, buffer, refs } = context;
  const promise = store.promises.get(kpid);
  assert(promise?.state === 'unresolved', `resolve of ${kpid}, which is ${promise?.state ?? 'missing'}`);
  store.promises.resolve(kpid, rejected, data);
  refs.increfData(data);
  for (const endpoint of store.promises.takeSubscribers(kpid)) {
    refs.incref(kpid);
    buffer.notifies.push({ endpoint, kpid });
  }
  for (const message of store.promises.takeMessages(kpid)) {
    // Queued messages did not count their target; the run queue does.
    refs.incref(kpid);
    buffer.sends.push({ target: kpid, message });
  }
  if (context.waiters.has(kpid)) {
    // The host now holds what the result names (as kernel presences), and
    // the kernel cannot see when it lets go: pin them for the kernel's life.
    refs.increfData(data);
    // The waiter map is memory, not store: it is only touched after the
    // commit, so an aborted crank cannot consume a waiter.
    buffer.postCommit.push(() => {
      const waiter = context.waiters.get(kpid);
      context.waiters.delete(kpid);
      waiter?.({ rejected, data });
    });
  }
}

/** Rejects a kernel promise with an Error carrying `message`. */
export function rejectPromise(context: KernelContext, kpid: KPromiseRef, message: string): void {
  resolvePromise(context, kpid, true, errorCapData(message));
}
