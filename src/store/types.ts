/**
 * The vocabulary the store persists. Branded strings are validated where they
 * enter (vat syscalls, the admin API, later the wire), and trusted inside.
 */

/** Kernel object reference `koN`. */
export type KObjectRef = `ko${number}`;
/** Kernel promise reference `kpN`. */
export type KPromiseRef = `kp${number}`;
/** A kernel reference: an object or a promise. */
export type KRef = KObjectRef | KPromiseRef;
/** A vat id `vN`. */
export type VatId = `v${number}`;
/** A remote peer's endpoint id `rN`. */
export type RemoteId = `r${number}`;
/** Something that has a c-list: a vat or a remote peer. */
export type EndpointId = VatId | RemoteId;
/** The owner of the kernel's own service objects (no c-list: the kernel answers them in the crank). */
export const kernelOwner = 'kernel';
/** Who exports an object: an endpoint, or the kernel itself for its services. */
export type ObjectOwner = EndpointId | typeof kernelOwner;

/** Marshalled data with its references, as liveslots and @endo/marshal use it. */
export interface CapData<Slot extends string = string> {
  body: string;
  slots: Slot[];
}

/** A message in kernel space: `methargs` is marshalled `[method, args]`. */
export interface KernelMessage {
  methargs: CapData<KRef>;
  result: KPromiseRef | null;
}

/** A run-queue item, read back with its row id so the crank can remove it. */
export type RunQueueItem =
  | { id: number; type: 'send'; target: KRef; message: KernelMessage }
  | { id: number; type: 'notify'; endpoint: EndpointId; kpid: KPromiseRef };

/** A garbage-collection action owed to an endpoint. */
export type GcActionKind = 'dropExport' | 'retireExport' | 'retireImport';
export interface GcAction {
  id: number;
  kind: GcActionKind;
  endpoint: EndpointId;
  kref: KObjectRef;
}

export type PromiseState = 'unresolved' | 'fulfilled' | 'rejected';

/** A kernel promise, as a discriminated union on its state. */
export type KernelPromise =
  | { kpid: KPromiseRef; state: 'unresolved'; decider: EndpointId | null; refcount: number }
  | {
      kpid: KPromiseRef;
      state: 'fulfilled' | 'rejected';
      data: CapData<KRef>;
      refcount: number;
    };

export function isKObjectRef(value: string): value is KObjectRef {
  return /^ko[1-9][0-9]*$/.test(value);
}

export function isKPromiseRef(value: string): value is KPromiseRef {
  return /^kp[1-9][0-9]*$/.test(value);
}

export function isVatId(value: string): value is VatId {
  return /^v[1-9][0-9]*$/.test(value);
}

export function isRemoteId(value: string): value is RemoteId {
  return /^r[1-9][0-9]*$/.test(value);
}
