import { getInterfaceOf, makeMarshal, passStyleOf } from '@endo/marshal';
import { isPromise } from '@endo/promise-kit';
import type { VatCapData } from '../types.js';

/**
 * The lean runtime's capdata codec: @endo/marshal's smallcaps format, with
 * a fast path for what messages nearly always hold (strings, numbers,
 * booleans, null, undefined, bigints, frozen arrays and records,
 * references). Anything else (errors, tagged values, symbols, a value that
 * is not passable) goes through @endo/marshal itself, which also says why a
 * value cannot be passed. Both paths give the same bytes for the same
 * value, and a test holds them to that (smallcaps.test.ts).
 *
 * What the fast path gains: marshal hardens what it decodes and the
 * encoding it builds, and asks `passStyleOf` of every object; here decoded
 * data is frozen all the way down (arrays and records decoded from JSON
 * have only the prototypes lockdown froze, so this is the same
 * immutability as `harden`) and objects are told apart by their shape.
 */

const styleOf = passStyleOf as (value: unknown) => string;

/** Why the fast path gave up on a value: the whole value goes through @endo/marshal instead. */
class NotFast extends Error {}
const notFast = new NotFast('not on the fast path');

const bang = '!'.charCodeAt(0);
const dash = '-'.charCodeAt(0);
const startsSpecial = (text: string) => {
  if (text === '') return false;
  const code = text.charCodeAt(0);
  return code >= bang && code <= dash;
};

export interface SmallcapsCodec {
  encode(value: unknown): VatCapData;
  /** `[method, args]` as a message's methargs; `args` must already be hardened (E() hardens them). */
  encodeMethargs(method: unknown, args: readonly unknown[]): VatCapData;
  decode(data: VatCapData): unknown;
}

export function makeSmallcapsCodec(options: {
  /** The slot of a reference (allocating it if new); throws if the value cannot be passed this way. */
  valToSlot(value: object): string;
  slotToVal(slot: string, iface: string | undefined): unknown;
}): SmallcapsCodec {
  const { valToSlot, slotToVal } = options;
  const marshal = makeMarshal(valToSlot as never, slotToVal as never, {
    serializeBodyFormat: 'smallcaps',
    errorTagging: 'off',
    marshalSaveError: () => {},
  });

  function encodeFast(value: unknown, slots: string[], slotIndex: Map<string, number>): unknown {
    switch (typeof value) {
      case 'string':
        return startsSpecial(value) ? `!${value}` : value;
      case 'boolean':
        return value;
      case 'number':
        if (Number.isNaN(value)) return '#NaN';
        if (value === Infinity) return '#Infinity';
        if (value === -Infinity) return '#-Infinity';
        return Object.is(value, -0) ? 0 : value;
      case 'undefined':
        return '#undefined';
      case 'bigint':
        return value < 0n ? String(value) : `+${String(value)}`;
      case 'object':
      case 'function':
        break;
      default:
        throw notFast;
    }
    if (value === null) return null;
    if (Array.isArray(value)) {
      if (!Object.isFrozen(value)) throw notFast;
      return value.map((item) => encodeFast(item, slots, slotIndex));
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype === Object.prototype && typeof value === 'object') {
      if (!Object.isFrozen(value)) throw notFast;
      const names = Object.keys(value);
      if (Reflect.ownKeys(value).length !== names.length) throw notFast;
      names.sort();
      const encoded: Record<string, unknown> = {};
      for (const name of names) {
        const descriptor = Object.getOwnPropertyDescriptor(value, name);
        if (descriptor === undefined || !('value' in descriptor) || name === '__proto__') throw notFast;
        encoded[startsSpecial(name) ? `!${name}` : name] = encodeFast(descriptor.value, slots, slotIndex);
      }
      return encoded;
    }
    const promise = isPromise(value);
    if (!promise && styleOf(value) !== 'remotable') throw notFast;
    const slot = valToSlot(value);
    let index = slotIndex.get(slot);
    if (index !== undefined) return promise ? `&${index}` : `$${index}`;
    index = slots.length;
    slots.push(slot);
    slotIndex.set(slot, index);
    if (promise) return `&${index}`;
    const iface = getInterfaceOf(value as never);
    return iface === undefined ? `$${index}` : `$${index}.${iface}`;
  }

  function decodeFast(encoding: unknown, slots: readonly string[]): unknown {
    switch (typeof encoding) {
      case 'string':
        return startsSpecial(encoding) ? decodeSpecial(encoding, slots) : encoding;
      case 'number':
      case 'boolean':
        return encoding;
      case 'object':
        break;
      default:
        throw notFast;
    }
    if (encoding === null) return null;
    if (Array.isArray(encoding)) {
      // JSON.parse made it: changed in place, then frozen.
      for (let i = 0; i < encoding.length; i += 1) encoding[i] = decodeFast(encoding[i], slots);
      return Object.freeze(encoding);
    }
    const record = encoding as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (startsSpecial(name) || name === '__proto__') throw notFast;
      record[name] = decodeFast(record[name], slots);
    }
    return Object.freeze(record);
  }

  function decodeSpecial(encoding: string, slots: readonly string[]): unknown {
    switch (encoding.charAt(0)) {
      case '!':
        return encoding.slice(1);
      case '#':
        switch (encoding) {
          case '#undefined':
            return undefined;
          case '#NaN':
            return NaN;
          case '#Infinity':
            return Infinity;
          case '#-Infinity':
            return -Infinity;
          default:
            throw notFast;
        }
      case '+':
      case '-':
        return BigInt(encoding);
      case '$': {
        const dot = encoding.indexOf('.');
        const index = Number(dot === -1 ? encoding.slice(1) : encoding.slice(1, dot));
        const slot = slots[index];
        if (!Number.isSafeInteger(index) || slot === undefined) throw notFast;
        return slotToVal(slot, dot === -1 ? undefined : encoding.slice(dot + 1));
      }
      case '&': {
        const slot = slots[Number(encoding.slice(1))];
        if (slot === undefined) throw notFast;
        return slotToVal(slot, undefined);
      }
      default:
        throw notFast;
    }
  }

  function encodeWith(encodeBody: (slots: string[], slotIndex: Map<string, number>) => unknown, slow: () => VatCapData): VatCapData {
    const slots: string[] = [];
    try {
      return { body: `#${JSON.stringify(encodeBody(slots, new Map()))}`, slots };
    } catch (error) {
      if (error !== notFast) throw error;
      return slow();
    }
  }

  return {
    encode(value) {
      return encodeWith(
        (slots, slotIndex) => encodeFast(value, slots, slotIndex),
        () => marshal.toCapData(value as never) as VatCapData,
      );
    },
    encodeMethargs(method, args) {
      return encodeWith(
        (slots, slotIndex) => [encodeFast(method, slots, slotIndex), encodeFast(args, slots, slotIndex)],
        () => marshal.toCapData(harden([method, args]) as never) as VatCapData,
      );
    },
    decode(data) {
      if (data.body.startsWith('#')) {
        try {
          return decodeFast(JSON.parse(data.body.slice(1)), data.slots);
        } catch (error) {
          if (error !== notFast) throw error;
        }
      }
      return marshal.fromCapData(data as never);
    },
  };
}
