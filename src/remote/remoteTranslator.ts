import type { KernelContext } from '../kernel/context.js';
import { parseVatRef, type ParsedVatRef } from '../kernel/vatRefs.js';
import { assert } from '../util/assert.js';
import type { CapData, KPromiseRef, KRef, RemoteId } from '../store/types.js';
import { flipRef } from './frames.js';

/**
 * A peer's frame breaks the protocol (a frame-level rule: an ack of what was
 * never sent, an unknown frame); its crank is rolled back and its connection
 * closed. A bad message inside a good frame is not one: it is refused alone
 * (`inbound.ts`).
 */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/**
 * Translation between krefs and the refs of one peer's c-list. Our c-list
 * names are from our side (`o+N`: we exported it; `o-N`: the peer did); the
 * wire carries the sender's names, so inbound refs are flipped first.
 */
export function makeRemoteTranslator(context: KernelContext, endpoint: RemoteId) {
  const { store, refs, buffer } = context;

  /** kref -> our c-list name, exporting it to the peer if it is new there. */
  function toWire(kref: KRef): string {
    const entry = store.clist.byKref(endpoint, kref);
    if (entry !== undefined) return entry.eref;
    const kind = kref.startsWith('ko') ? 'object' : 'promise';
    const eref = `${kind === 'object' ? 'o' : 'p'}+${store.peers.allocateRefNumber(endpoint, kind)}`;
    store.clist.add(endpoint, kref, eref, true);
    refs.incref(kref);
    if (kind === 'promise') {
      // A peer that learns of a promise it does not decide wants its settlement.
      const promise = store.promises.get(kref as KPromiseRef);
      if (promise?.state === 'unresolved' && promise.decider !== endpoint) {
        store.promises.subscribe(promise.kpid, endpoint);
      } else if (promise !== undefined && promise.state !== 'unresolved') {
        refs.incref(promise.kpid);
        buffer.notifies.push({ endpoint, kpid: promise.kpid });
      }
    }
    return eref;
  }

  /**
   * A ref from the peer's frame -> kref. A new ref the peer allocated becomes
   * a kernel object it owns or a promise it decides (`decider` overrides,
   * for results). A ref of ours the peer was never given cannot come here:
   * the message naming it was refused before translation ({@link mayName}).
   */
  function fromWire(wireRef: string, options: { newPromiseDecider?: RemoteId | null } = {}): KRef {
    const eref = flipRef(wireRef);
    const known = byEref(eref);
    if (known !== undefined) return known;
    const parsed = newRefOfPeer(eref);
    // inbound.ts refuses a message naming anything else before it translates.
    assert(parsed !== undefined, `peer ref ${wireRef} names nothing it was given, and was not refused`);
    if (parsed.kind === 'object') {
      const kref = store.objects.create(endpoint);
      store.clist.add(endpoint, kref, eref, true);
      return kref;
    }
    const decider = options.newPromiseDecider === undefined ? endpoint : options.newPromiseDecider;
    const kpid = store.promises.create(decider);
    store.clist.add(endpoint, kpid, eref, true);
    refs.incref(kpid);
    return kpid;
  }

  /** What our c-list name `eref` stands for: an entry, or a ref retiring since this node notified the peer of its promise. */
  function byEref(eref: string): KRef | undefined {
    return store.clist.byEref(endpoint, eref)?.kref ?? store.retiringRefs.byEref(endpoint, eref);
  }

  return {
    toWire,
    fromWire,
    dataToWire: (data: CapData<KRef>): CapData => ({ body: data.body, slots: data.slots.map(toWire) }),
    dataFromWire: (data: CapData): CapData<KRef> => ({ body: data.body, slots: data.slots.map((ref) => fromWire(ref)) }),
    /** What a ref the peer names already stands for in its c-list, if anything. */
    lookup(wireRef: string): KRef | undefined {
      return byEref(flipRef(wireRef));
    },
    /** Whether the peer may name `wireRef` in data: something it was given, or a new export of its own ({@link fromWire} would not throw). */
    mayName(wireRef: string): boolean {
      const eref = flipRef(wireRef);
      return byEref(eref) !== undefined || newRefOfPeer(eref) !== undefined;
    },
    /**
     * This node notified the peer of `kpid` in message `seq`: the entry
     * leaves the c-list (naming the promise to the peer again makes a new
     * ref) and retires, read until the peer says it consumed `seq`
     * ({@link retireThrough}); it keeps the promise's count meanwhile.
     */
    retire(kpid: KPromiseRef, seq: number): void {
      const entry = store.clist.byKref(endpoint, kpid);
      assert(entry !== undefined, `retiring ${kpid}, which the peer was not given`);
      store.clist.delete(endpoint, kpid);
      store.retiringRefs.add(endpoint, entry.eref, kpid, seq);
    },
    /** The peer had consumed this node's messages up to `seen` when it made the message just consumed: the refs they retired go. */
    retireThrough(seen: number): void {
      for (const kpid of store.retiringRefs.takeThrough(endpoint, seen)) refs.decref(kpid);
    },
    /** The peer settled `kpid` (a notify consumed): its ref is never named again by either side, and goes. */
    forgetSettled(kpid: KPromiseRef): void {
      assert(store.clist.byKref(endpoint, kpid) !== undefined, `the peer settled ${kpid}, which is not in its c-list`);
      store.clist.delete(endpoint, kpid);
      refs.decref(kpid);
    },
  };
}

/** `eref` (our c-list name) parsed, if it is one the peer may allocate anew: an object it exports or a promise it decides (`-`). */
function newRefOfPeer(eref: string): ParsedVatRef | undefined {
  const parsed = parseVatRef(eref);
  return parsed !== undefined && !parsed.allocatedByVat ? parsed : undefined;
}

export type RemoteTranslator = ReturnType<typeof makeRemoteTranslator>;
