import { Far } from '@endo/far';
import { describe, expect, it } from 'vitest';
import { decode, encode, errorCapData, krefOf, presenceOf, soleObjectRef } from './kmarshal.js';

describe('encode / decode', () => {
  it('round-trips plain data without slots', () => {
    const value = { n: 1, s: 'two', list: [true, null, 3n, -0.5], nested: { deep: ['x'] }, nothing: undefined };
    const data = encode(value);
    expect(data.slots).toEqual([]);
    expect(decode(data)).toStrictEqual(value);
  });

  it('passes a kernel presence by its kref and decodes it to the identical presence', () => {
    const presence = presenceOf('ko7');
    expect(presenceOf('ko7')).toBe(presence);
    expect(krefOf(presence)).toBe('ko7');

    const data = encode({ target: presence, again: [presence], other: presenceOf('kp2') });
    expect(data.slots).toEqual(['ko7', 'kp2']);
    const decoded = decode(data) as { target: object; again: object[]; other: object };
    expect(decoded.target).toBe(presence);
    expect(decoded.again[0]).toBe(presence);
    expect(krefOf(decoded.other)).toBe('kp2');
  });

  it('turns a kref first seen in capdata into a presence for that kref', () => {
    const decoded = decode({ body: '#"$0.Alleged: Counter"', slots: ['ko8123'] });
    expect(krefOf(decoded)).toBe('ko8123');
    expect(decode({ body: '#"$0.Alleged: Counter"', slots: ['ko8123'] })).toBe(decoded);
  });

  it('refuses to pass a remotable that is not a kernel presence', () => {
    expect(() => encode(Far('Stranger', {}))).toThrow(/only kernel presences/);
    expect(krefOf({})).toBeUndefined();
    expect(krefOf('ko1')).toBeUndefined();
  });
});

describe('errorCapData', () => {
  it('decodes to an Error with that message', () => {
    const error = decode(errorCapData('vat terminated: out of gas'));
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('vat terminated: out of gas');
  });
});

describe('soleObjectRef', () => {
  it('returns the kref of data that is exactly one object reference', () => {
    expect(soleObjectRef(encode(presenceOf('ko5')))).toBe('ko5');
  });

  it('returns undefined for anything else', () => {
    expect(soleObjectRef(encode(presenceOf('kp5')))).toBeUndefined();
    expect(soleObjectRef(encode([presenceOf('ko5')]))).toBeUndefined();
    expect(soleObjectRef(encode({ x: presenceOf('ko5') }))).toBeUndefined();
    expect(soleObjectRef(encode([presenceOf('ko5'), presenceOf('ko6')]))).toBeUndefined();
    expect(soleObjectRef(encode('ko5'))).toBeUndefined();
    expect(soleObjectRef(encode(5))).toBeUndefined();
  });
});
