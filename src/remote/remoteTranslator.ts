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
    const entry = store.clist.byEref(endpoint, eref);
    if (entry !== undefined) return entry.kref;
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

  return {
    toWire,
    fromWire,
    dataToWire: (data: CapData<KRef>): CapData => ({ body: data.body, slots: data.slots.map(toWire) }),
    dataFromWire: (data: CapData): CapData<KRef> => ({ body: data.body, slots: data.slots.map((ref) => fromWire(ref)) }),
    /** What a ref the peer names already stands for in its c-list, if anything. */
    lookup(wireRef: string): KRef | undefined {
      return store.clist.byEref(endpoint, flipRef(wireRef))?.kref;
    },
    /** Whether the peer may name `wireRef` in data: something it was given, or a new export of its own ({@link fromWire} would not throw). */
    mayName(wireRef: string): boolean {
      const eref = flipRef(wireRef);
      return store.clist.byEref(endpoint, eref) !== undefined || newRefOfPeer(eref) !== undefined;
    },
  };
}

/** `eref` (our c-list name) parsed, if it is one the peer may allocate anew: an object it exports or a promise it decides (`-`). */
function newRefOfPeer(eref: string): ParsedVatRef | undefined {
  const parsed = parseVatRef(eref);
  return parsed !== undefined && !parsed.allocatedByVat ? parsed : undefined;
}

export type RemoteTranslator = ReturnType<typeof makeRemoteTranslator>;
