import { Far, passStyleOf } from '@endo/far';
import { makeMarshal } from '@endo/marshal';
import { assert } from '../util/assert.js';
import type { CapData, KRef } from '../store/types.js';

/**
 * How the kernel and its host (tests, the CLI, the admin API) read and write
 * marshalled data. Kernel refs appear to the host as small Far objects
 * ("kernel presences") whose kref {@link krefOf} returns.
 */
const presenceToKref = new WeakMap<object, KRef>();
const krefToPresence = new Map<KRef, object>();

function presenceFor(kref: KRef, iface: string | undefined): object {
  const existing = krefToPresence.get(kref);
  if (existing !== undefined) {
    return existing;
  }
  const presence = Far(iface?.replace(/^Alleged: /, '') ?? kref, {});
  presenceToKref.set(presence, kref);
  krefToPresence.set(kref, presence);
  return presence;
}

/** The host's stand-in for `kref`, to pass in arguments or send to. */
export function presenceOf(kref: KRef): object {
  return presenceFor(kref, undefined);
}

/** The kref a kernel presence stands for, or undefined for anything else. */
export function krefOf(value: unknown): KRef | undefined {
  return typeof value === 'object' && value !== null ? presenceToKref.get(value) : undefined;
}

const marshal = makeMarshal(
  (value: unknown) => {
    const kref = krefOf(value);
    assert(kref !== undefined, `only kernel presences can be passed by reference, not ${passStyleOf(value as never)}`);
    return kref;
  },
  (slot: string, iface: string | undefined) => presenceFor(slot as KRef, iface),
  { serializeBodyFormat: 'smallcaps', errorTagging: 'off', marshalSaveError: () => {} },
);

/** Marshals host data (plain data and kernel presences) into kernel capdata. */
export function encode(value: unknown): CapData<KRef> {
  return marshal.toCapData(harden(value as never)) as CapData<KRef>;
}

/** Unmarshals kernel capdata for the host; krefs become kernel presences. */
export function decode(data: CapData<KRef>): unknown {
  return marshal.fromCapData(data);
}

/** Capdata for a rejection with an Error carrying `message`. */
export function errorCapData(message: string): CapData<KRef> {
  return encode(Error(message));
}

/** If `data` is exactly one object reference, that kref (a promise forwarded to an object). */
export function soleObjectRef(data: CapData<KRef>): KRef | undefined {
  const [slot] = data.slots;
  return data.slots.length === 1 && slot !== undefined && slot.startsWith('ko') && /^#"\$0\./.test(data.body)
    ? slot
    : undefined;
}
