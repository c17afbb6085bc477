import { describe, expect, it } from 'vitest';
import { AssertionError } from '../util/assert.js';
import { importVatRef, parseVatRef, rootVatRef } from './vatRefs.js';

describe('parseVatRef', () => {
  it.each([
    ['o+0', { kind: 'object', allocatedByVat: true, durable: false, root: true }],
    ['o-5', { kind: 'object', allocatedByVat: false, durable: false, root: false }],
    ['p+3', { kind: 'promise', allocatedByVat: true, durable: false, root: false }],
    ['p-7', { kind: 'promise', allocatedByVat: false, durable: false, root: false }],
    ['o+d12/3', { kind: 'object', allocatedByVat: true, durable: true, root: false }],
    ['o+v4/1', { kind: 'object', allocatedByVat: true, durable: false, root: false }],
    ['o+d12/3:1', { kind: 'object', allocatedByVat: true, durable: true, root: false }],
    ['o+10', { kind: 'object', allocatedByVat: true, durable: false, root: false }],
  ])('parses %s', (vref, expected) => {
    expect(parseVatRef(vref)).toEqual(expected);
  });

  it.each(['x', 'o+', 'p+d1/2', 'o*1', '', 'p+1/2', 'p-3:1', 'o+d', 'o+1/', 'o+1:2', 'o+x1', 'ko1', ' o+1', 'o+1 '])(
    'rejects %j',
    (vref) => {
      expect(parseVatRef(vref)).toBeUndefined();
    },
  );

  it('knows the root vref', () => {
    expect(parseVatRef(rootVatRef)?.root).toBe(true);
  });
});

describe('importVatRef', () => {
  it('makes kernel-allocated (import) vrefs that parse back as such', () => {
    expect(importVatRef('object', 3)).toBe('o-3');
    expect(importVatRef('promise', 12)).toBe('p-12');
    expect(parseVatRef(importVatRef('object', 1))).toEqual({
      kind: 'object',
      allocatedByVat: false,
      durable: false,
      root: false,
    });
    expect(parseVatRef(importVatRef('promise', 1))?.kind).toBe('promise');
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 53])('refuses import number %d', (n) => {
    expect(() => importVatRef('object', n)).toThrow(AssertionError);
  });
});
