import { isRemoteId, kernelOwner, type CapData, type EndpointId, type GcAction, type KernelMessage, type KObjectRef, type KPromiseRef, type KRef, type RemoteId, type RunQueueItem, type VatId } from '../store/types.js';
import type { RemoteRouter } from './context.js';
import { assert } from '../util/assert.js';
import type { VatDelivery } from '../vats/types.js';
import type { KernelContext } from './context.js';
import { CapDataError, checkCapData, checkMethargs, krefSlotKind } from './capdataCheck.js';
import { decode, errorCapData, soleObjectRef } from './kmarshal.js';
import { rejectPromise, resolvePromise } from './resolve.js';
import { makeVatTranslator } from './vatTranslator.js';

/**
 * What processing a queue item asks of the kernel: nothing more (the item
 * was consumed without a vat), or a delivery to a vat. Deciding is separate
 * from delivering so that one function, the kernel's crank, applies
 * outcomes. Every function here runs inside the crank's savepoint.
 */
export type Routing = { type: 'consumed' } | { type: 'deliver'; vatId: VatId; delivery: VatDelivery };

const consumed: Routing = { type: 'consumed' };

function isLive(context: KernelContext, vatId: VatId): boolean {
  return context.store.vats.get(vatId)?.state === 'live';
}

function remotesOf(context: KernelContext, endpoint: RemoteId): RemoteRouter {
  assert(context.remotes !== undefined, `remote endpoint ${endpoint} without a remote layer`);
  return context.remotes;
}

/**
 * Removes run-queue items and routes them: one item, or a run of notifies
 * to one vat ({@link notifyRunOf}), whose resolutions go to the vat in one
 * `dispatch.notify`.
 */
export function routeRunItems(context: KernelContext, items: readonly RunQueueItem[]): Routing {
  const [first, ...rest] = items;
  assert(first !== undefined, 'no run-queue item to route');
  if (rest.length === 0) {
    context.store.queues.removeRun(first.id);
    return routeRunItem(context, first);
  }
  // The run is the head of the queue (notifyRunOf): removed in one statement.
  context.store.queues.removeRunHead(items[items.length - 1]!.id, items.length);
  let vatId: VatId | undefined;
  const resolutions: Extract<VatDelivery, { 0: 'notify' }>[1] = [];
  for (const item of items) {
    const routing = routeRunItem(context, item);
    if (routing.type !== 'deliver') continue;
    assert(routing.delivery[0] === 'notify' && (vatId === undefined || vatId === routing.vatId), 'a run of notifies routed to more than one vat');
    vatId = routing.vatId;
    resolutions.push(...routing.delivery[1]);
  }
  return vatId === undefined ? consumed : { type: 'deliver', vatId, delivery: ['notify', resolutions] };
}

/** How many notifies to one vat one delivery may carry. */
export const maxNotifiesPerDelivery = 64;

/**
 * The items at the head of the run queue that one crank takes: the first,
 * and if it is a notify to a vat of this node, the notifies to that vat
 * that come right after it (up to {@link maxNotifiesPerDelivery}). Order
 * holds: only consecutive items join, and nothing else is between them.
 */
export function notifyRunOf(context: KernelContext, head: RunQueueItem): RunQueueItem[] {
  if (head.type !== 'notify' || isRemoteId(head.endpoint)) return [head];
  const run = context.store.queues.headNotifyRun(head.endpoint, maxNotifiesPerDelivery);
  assert(run[0]?.id === head.id, 'the run queue changed under a crank');
  return run;
}

/** Routes a run-queue item (removed already) to the vat that must see it, if any. */
function routeRunItem(context: KernelContext, item: RunQueueItem): Routing {
  switch (item.type) {
    case 'send':
      return routeSend(context, item.target, item.message);
    case 'notify':
      return routeNotify(context, item.endpoint, item.kpid);
    default:
      throw new Error(`unknown run-queue item ${JSON.stringify(item satisfies never)}`);
  }
}

function rejectResult(context: KernelContext, message: KernelMessage, reason: string): void {
  if (message.result !== null) {
    rejectPromise(context, message.result, reason);
  }
}

/**
 * The peer a send to `target` goes to now, and as what: an object a peer
 * owns, a promise a peer decides (pipelining), or either reached through a
 * promise fulfilled with it. Undefined if the send stays on this node.
 */
function peerDestinationOf(context: KernelContext, target: KRef): { endpoint: RemoteId; target: KRef } | undefined {
  let object = target;
  if (target.startsWith('kp')) {
    const promise = context.store.promises.get(target as KPromiseRef);
    if (promise === undefined) return undefined;
    if (promise.state === 'unresolved') {
      return promise.decider !== null && isRemoteId(promise.decider) ? { endpoint: promise.decider, target } : undefined;
    }
    const forwarded = promise.state === 'fulfilled' ? soleObjectRef(promise.data) : undefined;
    if (forwarded === undefined) return undefined;
    object = forwarded;
  }
  const owner = context.store.objects.get(object as KObjectRef)?.owner;
  return owner !== undefined && owner !== null && isRemoteId(owner) ? { endpoint: owner, target: object } : undefined;
}

/**
 * Hands a send bound for a peer to the remote layer at once (an outbox row
 * in this crank), as the crank buffer is flushed: no routing crank of its
 * own. True if it did; false if the send stays on this node, for the run
 * queue. Order holds: every send from a crank to a peer-bound target goes
 * this way, and what waits in the run queue for a target that later turns
 * out to be a peer's (messages queued on a promise, released when it
 * resolves) is released before the notify that tells its senders.
 */
export function sendToPeerNow(context: KernelContext, target: KRef, message: KernelMessage): boolean {
  const destination = peerDestinationOf(context, target);
  if (destination === undefined) return false;
  remotesOf(context, destination.endpoint).send(context, destination.endpoint, destination.target, message);
  context.refs.decrefMessage(message, target);
  return true;
}

function routeSend(context: KernelContext, queuedTarget: KRef, message: KernelMessage): Routing {
  const { store, refs } = context;
  if (sendToPeerNow(context, queuedTarget, message)) return consumed;
  let target = queuedTarget;
  if (target.startsWith('kp')) {
    const promise = store.promises.get(target as `kp${number}`);
    assert(promise !== undefined, `send to missing ${target}`);
    if (promise.state === 'unresolved') {
      // Wait on the promise; the queue entry does not count its own target.
      store.promises.enqueueMessage(promise.kpid, message);
      refs.decref(promise.kpid);
      return consumed;
    }
    const forwarded = promise.state === 'fulfilled' ? soleObjectRef(promise.data) : undefined;
    if (forwarded === undefined) {
      if (message.result !== null) {
        if (promise.state === 'rejected') {
          resolvePromise(context, message.result, true, promise.data);
        } else {
          rejectPromise(context, message.result, `cannot send to ${target}: it was fulfilled with data, not an object`);
        }
      }
      refs.decrefMessage(message, queuedTarget);
      return consumed;
    }
    target = forwarded;
  }
  const object = store.objects.get(target as KObjectRef);
  if (object === undefined || object.owner === null) {
    rejectResult(context, message, object?.lostReason ?? `object ${target} no longer exists`);
    refs.decrefMessage(message, queuedTarget);
    return consumed;
  }
  if (object.owner === kernelOwner) {
    invokeService(context, target as KObjectRef, message);
    refs.decrefMessage(message, queuedTarget);
    return consumed;
  }
  const vatId = object.owner;
  // A peer's object went to the peer above (sendToPeerNow).
  assert(!isRemoteId(vatId), `send to ${target} of ${vatId} not handed to the peer`);
  const refusal = refusalOf(context, vatId, message);
  if (refusal !== undefined) {
    rejectResult(context, message, refusal);
    refs.decrefMessage(message, queuedTarget);
    return consumed;
  }
  const translator = makeVatTranslator(context, vatId);
  const targetVref = store.clist.byKref(vatId, target)?.eref;
  assert(targetVref !== undefined, `owner ${vatId} has no c-list entry for ${target}`);
  if (message.result !== null) {
    store.promises.setDecider(message.result, vatId);
  }
  const vatMessage = translator.messageToVat(message);
  // The vat's c-list now holds what the queue item held.
  refs.decrefMessage(message, queuedTarget);
  return { type: 'deliver', vatId, delivery: ['message', targetVref, vatMessage] };
}

/**
 * Why a message for an object of `vatId` is not delivered, if it is not: the
 * vat is failed (it takes nothing until a start restarts it; the sender
 * hears so at once rather than waiting for an operator), or the message
 * is not one its runtime could decode (liveslots would throw in dispatch,
 * which is no fault of the vat).
 */
function refusalOf(context: KernelContext, vatId: VatId, message: KernelMessage): string | undefined {
  const vat = context.store.vats.get(vatId);
  // A terminated vat's objects are lost (they have no owner), so none can route here.
  assert(vat !== undefined && vat.state !== 'terminated', `an object is owned by ${vatId}, which is ${vat?.state ?? 'missing'}`);
  if (vat.state === 'failed') return `vat ${vatId} (${vat.name}) is failed: ${vat.reason}; it is restarted at the next start of its node`;
  try {
    checkMethargs(message.methargs, krefSlotKind);
  } catch (error) {
    if (!(error instanceof CapDataError)) throw error;
    return `message refused: ${error.message}`;
  }
  return undefined;
}

function invokeService(context: KernelContext, target: KObjectRef, message: KernelMessage): void {
  const service = context.services.get(target);
  if (service === undefined) {
    rejectResult(context, message, `kernel service ${target} is not available in this node`);
    return;
  }
  const [method, args] = decode(message.methargs) as [unknown, unknown[]];
  try {
    if (typeof method !== 'string' || !Array.isArray(args)) throw new TypeError('a service takes method calls');
    service.invoke(context, method, args, message.result);
  } catch (error) {
    rejectResult(context, message, error instanceof Error ? error.message : String(error));
  }
}

/**
 * Hands a notify for a peer to the remote layer at once (an outbox row in
 * this crank), as the crank buffer is flushed, like {@link sendToPeerNow}:
 * sends and notifies from one crank reach the peer in the order the flush
 * writes them. False if the subscriber is a vat of this node.
 */
export function notifyPeerNow(context: KernelContext, endpoint: EndpointId, kpid: KPromiseRef): boolean {
  if (!isRemoteId(endpoint)) return false;
  remotesOf(context, endpoint).notify(context, endpoint, kpid);
  context.refs.decref(kpid);
  return true;
}

function routeNotify(context: KernelContext, endpoint: EndpointId, kpid: KPromiseRef): Routing {
  const { store, refs } = context;
  const promise = store.promises.get(kpid);
  assert(promise !== undefined && promise.state !== 'unresolved', `notify of ${kpid}, which is not resolved`);
  if (notifyPeerNow(context, endpoint, kpid)) return consumed;
  const vatId = endpoint;
  assert(!isRemoteId(vatId), `notify for ${vatId} not handed to the peer`);
  const entry = store.clist.byKref(vatId, kpid);
  if (!isLive(context, vatId) || entry === undefined) {
    refs.decref(kpid);
    return consumed;
  }
  const translator = makeVatTranslator(context, vatId);
  const data = translator.dataToVat(deliverableResolution(promise.data));
  // liveslots retires the vpid when it is notified; so does its c-list.
  translator.forgetPromise(kpid);
  refs.decref(kpid);
  return {
    type: 'deliver',
    vatId,
    delivery: ['notify', [[entry.eref, promise.state === 'rejected', data]]],
  };
}

/** A resolution as a vat may be given it: its data, or a rejection saying why the data could not be delivered. */
function deliverableResolution(data: CapData<KRef>): CapData<KRef> {
  try {
    checkCapData(data, krefSlotKind);
    return data;
  } catch (error) {
    if (!(error instanceof CapDataError)) throw error;
    return errorCapData(`resolution refused: ${error.message}`);
  }
}

/** Removes a GC action and routes it to its vat, unless it went stale meanwhile. */
export function routeGcAction(context: KernelContext, action: GcAction): Routing {
  const { store } = context;
  store.queues.removeGc(action.id);
  if (isRemoteId(action.endpoint)) {
    // No drop/retire frames exist yet (docs/protocol.md, "What is not
    // covered yet"), so a peer is never told. Safe, at the cost of memory:
    // the c-list entry and the kernel object stay, so a later frame naming
    // the ref still translates to the same kref.
    return consumed;
  }
  const vatId = action.endpoint;
  const entry = store.clist.byKref(vatId, action.kref);
  if (!isLive(context, vatId) || entry === undefined) {
    return consumed;
  }
  const object = store.objects.get(action.kref);
  switch (action.kind) {
    case 'dropExport':
      if (object === undefined || object.owner !== vatId || object.reachable > 0 || !entry.reachable) {
        return consumed;
      }
      store.clist.setReachable(vatId, action.kref, false);
      return { type: 'deliver', vatId, delivery: ['dropExports', [entry.eref]] };
    case 'retireExport':
      if (object === undefined || object.owner !== vatId || object.recognizable > 0) {
        return consumed;
      }
      store.clist.delete(vatId, action.kref);
      store.objects.delete(action.kref);
      return { type: 'deliver', vatId, delivery: ['retireExports', [entry.eref]] };
    case 'retireImport':
      store.clist.delete(vatId, action.kref);
      return { type: 'deliver', vatId, delivery: ['retireImports', [entry.eref]] };
    default:
      throw new Error(`unknown GC action ${JSON.stringify(action.kind satisfies never)}`);
  }
}

