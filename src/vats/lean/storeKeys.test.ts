import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys } from '../../store/keyOrder.js';
import { decodeStoreKey, encodeStoreKey } from './storeKeys.js';

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const storeKey = fc.oneof(finite, fc.string({ maxLength: 6 }));

describe('lean store keys', () => {
  it('decode what they encode (-0 as 0), each key on its own', () => {
    fc.assert(
      fc.property(storeKey, (key) => {
        expect(decodeStoreKey(encodeStoreKey(key))).toBe(typeof key === 'number' && key === 0 ? 0 : key);
      }),
    );
  });

  it('sort in the vatstore as the keys do: numbers in numeric order, then strings', () => {
    fc.assert(
      fc.property(storeKey, storeKey, (a, b) => {
        const order = compareKeys(encodeStoreKey(a), encodeStoreKey(b));
        if (typeof a === 'number' && typeof b === 'number') expect(Math.sign(order)).toBe(Math.sign(a === b ? 0 : a - b));
        else if (typeof a === 'number') expect(order).toBeLessThan(0);
        else if (typeof b === 'number') expect(order).toBeGreaterThan(0);
      }),
    );
  });

  it('refuse what is not a string or a finite number', () => {
    for (const bad of [NaN, Infinity, {}, null, undefined, true, 1n]) expect(() => encodeStoreKey(bad)).toThrow(TypeError);
  });
});
