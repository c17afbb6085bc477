import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KRef } from '../store/types.js';
import { CapDataError, checkCapData, checkMethargs, defaultCapDataLimits, fullCheck, isPlainData, krefSlotKind, type SlotKind } from './capdataCheck.js';
import { encode, presenceOf } from './kmarshal.js';

const krefKind = krefSlotKind;
const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CapDataError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

/** Plain data as a host or a vat passes it, with kernel presences among it. */
const passable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.integer({ min: 1, max: 20 }).map((n) => presenceOf(`ko${n}` as KRef)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string().filter((key) => key !== '__proto__'), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

describe('capdata check', () => {
  it('passes whatever the kernel marshals (messages of any honest arguments)', () => {
    fc.assert(
      fc.property(fc.string(), fc.array(passable, { maxLength: 4 }), (method, args) => {
        checkMethargs(encode([method, args]), krefKind);
      }),
      { numRuns: 300 },
    );
    // Promises, as liveslots writes them.
    checkCapData({ body: '#{"answer":"&0","again":"&0","object":"$1.Alleged: counter"}', slots: ['kp3', 'ko1'] }, krefKind);
  });

  it('refuses each junk body a peer sent in the attack, with the reason', () => {
    expect(refusal(() => checkMethargs({ body: 'garbage', slots: [] }, krefKind))).toMatch(/not smallcaps/);
    expect(refusal(() => checkMethargs({ body: '#["receive",[', slots: [] }, krefKind))).toMatch(/does not decode/);
    expect(refusal(() => checkMethargs({ body: '#["receive",["$0"]]', slots: [] }, krefKind))).toMatch(/beyond the 0 given/);
    const deep = `#["receive",[${'['.repeat(100_000)}${']'.repeat(100_000)}]]`;
    expect(refusal(() => checkMethargs({ body: deep, slots: [] }, krefKind))).toMatch(/nested more than 64 deep/);
  });

  it('refuses bad methods, unused or mistyped slots, and data past the bounds', () => {
    expect(refusal(() => checkMethargs(encode([42, []]), krefKind))).toMatch(/method name is number/);
    expect(refusal(() => checkMethargs(encode(['m']), krefKind))).toMatch(/not \[method, args\]/);
    expect(refusal(() => checkMethargs(encode(['m', 'x']), krefKind))).toMatch(/arguments are not an array/);
    expect(refusal(() => checkMethargs(encode(['x'.repeat(300), []]), krefKind))).toMatch(/method name of 300/);
    expect(refusal(() => checkCapData({ body: '#"$0.Alleged: x"', slots: ['kp1'] }, krefKind))).toMatch(/must return a remotable/);
    expect(refusal(() => checkCapData({ body: '#"&0"', slots: ['ko1'] }, krefKind))).toMatch(/must return a promise/);
    expect(refusal(() => checkCapData({ body: '#null', slots: ['ko1'] }, krefKind))).toMatch(/1 of 1 slots are not referenced/);
    expect(refusal(() => checkCapData({ body: '#"$0"', slots: ['v1'] }, krefKind))).toMatch(/is not a reference/);
    expect(refusal(() => checkCapData({ body: '#"$-1"', slots: ['ko1'] }, krefKind))).toMatch(/does not decode/);
    const slots = Array.from({ length: defaultCapDataLimits.slotsMax + 1 }, (_, index) => `ko${index + 1}`);
    expect(refusal(() => checkCapData({ body: '#[]', slots }, krefKind))).toMatch(/slots, more than/);
    expect(refusal(() => checkCapData({ body: `#"${'x'.repeat(defaultCapDataLimits.bodyCharsMax)}"`, slots: [] }, krefKind))).toMatch(/characters, more than/);
    expect(refusal(() => checkCapData({ body: '#"$0.junk"', slots: ['ko1'] }, krefKind))).toMatch(/interface name "junk"/);
    // Brackets inside strings are text, not nesting.
    checkCapData({ body: `#"${'['.repeat(1000)}"`, slots: [] }, krefKind);
  });

  it('accepts on its fast path only what the decoder accepts, and honest plain data always there', () => {
    const special = fc.constantFrom('!', '#', '$', '%', '&', '+', '-', '"', "'", '(', ',');
    const token = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.tuple(special, fc.string({ maxLength: 6 })).map(([first, rest]) => first + rest),
      fc.constantFrom('$0', '$1', '&0', '&1', '$0.Alleged: x', '$0.junk', '#undefined', '#NaN', '+12', '-0', '+01', '%@@iterator', '%x'),
    );
    const tree: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        token,
        fc.integer(),
        fc.constant(null),
        fc.boolean(),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(token, fc.constantFrom('#tag', '#error', 'payload', 'name')), tie('value'), { maxKeys: 3, noNullPrototype: true }),
      ),
    })).value;
    const kind = (slot: string): SlotKind | undefined => (slot === 'o' ? 'object' : slot === 'p' ? 'promise' : undefined);
    fc.assert(
      fc.property(tree, fc.array(fc.constantFrom('o', 'p', 'x'), { maxLength: 2 }), (value, slots) => {
        const data = { body: `#${JSON.stringify(value)}`, slots };
        let viaDecoder: string | undefined;
        try {
          fullCheck(data, kind);
        } catch (error) {
          viaDecoder = (error as Error).message;
        }
        if (isPlainData(JSON.parse(data.body.slice(1)), slots, kind)) expect(viaDecoder).toBeUndefined();
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.array(passable, { maxLength: 4 }), (args) => {
        const data = encode(args);
        expect(isPlainData(JSON.parse(data.body.slice(1)), data.slots, krefKind)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but a refusal, whatever the body and slots', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom('ko1', 'kp2', 'ko3', 'x'), { maxLength: 3 }), (text, slots) => {
        for (const body of [text, `#${text}`]) {
          try {
            checkCapData({ body, slots }, krefKind);
          } catch (error) {
            expect(error).toBeInstanceOf(CapDataError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
