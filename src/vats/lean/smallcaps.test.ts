import { Far } from '@endo/far';
import { makeMarshal } from '@endo/marshal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeSmallcapsCodec } from './smallcaps.js';

/** A pool of references both codecs name by the same slots. */
function references() {
  const objects = Array.from({ length: 4 }, (_, i) => Far(`thing${i}`, { n: () => i }));
  const promises = Array.from({ length: 2 }, () => harden(new Promise(() => {})));
  const slotOf = new Map<object, string>([...objects.map((o, i): [object, string] => [o, `o+${i + 1}`]), ...promises.map((p, i): [object, string] => [p, `p+${i + 1}`])]);
  const valueOf = new Map([...slotOf].map(([value, slot]) => [slot, value]));
  const valToSlot = (value: object) => {
    const slot = slotOf.get(value);
    if (slot === undefined) throw new TypeError('not in the pool');
    return slot;
  };
  const slotToVal = (slot: string) => valueOf.get(slot);
  return { objects, promises, valToSlot, slotToVal };
}

const special = fc.constantFrom('', '!', '#x', '$0', '&1', '%s', '+1', '-2', ',', 'plain', 'é', '\u{1F600}');
const key = fc.oneof(fc.string({ maxLength: 4 }), special).filter((name) => name !== '__proto__');

function passable(pool: ReturnType<typeof references>) {
  const leaf = fc.oneof(
    fc.string({ maxLength: 6 }),
    special,
    fc.double(),
    fc.constantFrom(NaN, Infinity, -Infinity, -0, 0),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constantFrom(...pool.objects),
    fc.constantFrom(...pool.promises),
    fc.string({ maxLength: 5 }).map((message) => harden(Error(message))),
  );
  const { tree } = fc.letrec<{ tree: unknown }>((self) => ({
    tree: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(self('tree'), { maxLength: 4 }).map((items) => harden(items)),
      fc.dictionary(key, self('tree'), { maxKeys: 4, noNullPrototype: true }).map((record) => harden(record)),
    ),
  }));
  return tree;
}

describe('lean smallcaps codec', () => {
  it('writes the bytes @endo/marshal writes, and reads back what @endo/marshal reads', () => {
    const pool = references();
    const codec = makeSmallcapsCodec(pool);
    const marshal = makeMarshal(pool.valToSlot as never, pool.slotToVal as never, {
      serializeBodyFormat: 'smallcaps',
      errorTagging: 'off',
      marshalSaveError: () => {},
    });
    fc.assert(
      fc.property(passable(pool), (value) => {
        const expected = marshal.toCapData(harden(value) as never);
        const data = codec.encode(value);
        expect(data).toEqual(expected);
        const decoded = codec.decode(data);
        expect(decoded).toEqual(marshal.fromCapData(expected));
        expect(deeplyFrozen(decoded)).toBe(true);
        expect(codec.encodeMethargs('m', harden([value]))).toEqual(marshal.toCapData(harden(['m', [value]]) as never));
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses what is not passable, as @endo/marshal does', () => {
    const codec = makeSmallcapsCodec(references());
    expect(() => codec.encode({ unfrozen: true })).toThrow(/Cannot pass non-frozen objects/);
    expect(() => codec.encode(harden([Far('stranger', {})]))).toThrow('not in the pool');
  });
});

function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || value instanceof Promise) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}
