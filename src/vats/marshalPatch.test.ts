import { readFile } from 'node:fs/promises';
import { Far, makeMarshal } from '@endo/marshal';
import { describe, expect, it } from 'vitest';

/**
 * patches/@endo+marshal+1.10.0.patch takes `harden` off what never leaves
 * @endo/marshal: the JSON `fromCapData` parses, the encoder and the revivers
 * (made once per marshaller now, not per call, with the per-call slots in
 * variables saved and restored around each call), the slot records of the
 * encoder and the encoding that `toCapData` stringifies at once; and what
 * `toCapData` returns, when its slots are primitives, is frozen all the way
 * down (its prototypes being hardened intrinsics) instead of being recorded
 * in harden's WeakSet; so are the arrays and records `fromCapData` revives. liveslots encodes and decodes every message with it
 * (docs/benchmarks.md, "liveslots deliveries: harden and marshal patches").
 * What a caller gets must still be frozen all the way down, its prototypes
 * included, and calls made inside other calls (liveslots
 * reads a collection's schema while it revives the collection) must each see
 * their own slots.
 */

const source = (file: string) => readFile(new URL(`../../node_modules/@endo/marshal/src/${file}`, import.meta.url), 'utf8');

/** Frozen all the way down, prototypes included (what a caller of `harden` can observe). */
function deepFrozen(value: unknown, seen = new Set<unknown>()): boolean {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) return true;
  seen.add(value);
  if (!Object.isFrozen(value) || !deepFrozen(Object.getPrototypeOf(value), seen)) return false;
  return Reflect.ownKeys(value).every((key) => {
    const desc = Object.getOwnPropertyDescriptor(value, key)!;
    return 'value' in desc ? deepFrozen(desc.value, seen) : deepFrozen(desc.get, seen) && deepFrozen(desc.set, seen);
  });
}

describe('the @endo/marshal patch', () => {
  it('is applied: no harden of the parsed JSON, one encoder and one set of revivers per marshaller', async () => {
    const marshal = await source('marshal.js');
    expect(marshal).toContain('const encoding = JSON.parse(smallcapsBody);');
    expect(marshal).toContain('const makeFullRevive = () => {');
    expect(marshal).toContain('let reviveSlots = [];');
    expect(marshal).toContain('return { index, repeat: false };');
    expect(marshal).toContain('return freeze({ body, slots: freeze(capDataSlots) });');
    expect(marshal).toContain('result = hardenRevived(reviveFromSmallcaps(encoding));');
    expect(await source('encodeToSmallcaps.js')).toContain('return hardenEncoding ? harden(encoding) : encoding;');
  });

  it('returns from fromCapData what is hardened all the way down: records, arrays, tagged, errors, presences', () => {
    const presence = Far('thing', {});
    const marshal = makeMarshal(undefined, () => presence, { serializeBodyFormat: 'smallcaps' });
    const plain = marshal.fromCapData({ body: '#[[],{"x":[[1],{}]},"s",null]', slots: [] });
    expect(deepFrozen(plain)).toBe(true);
    expect(plain).toEqual([[], { x: [[1], {}] }, 's', null]);
    const value = marshal.fromCapData({
      body: '#{"a":[1,{"b":"c"}],"d":{"e":[]},"t":{"#tag":"x","payload":[{"p":1}]},"err":{"#error":"boom","name":"TypeError"},"s":"$0.Alleged: thing"}',
      slots: ['o-1'],
    }) as Record<string, unknown>;
    expect(deepFrozen(value)).toBe(true);
    expect(value.s).toBe(presence);
    expect(value.err).toBeInstanceOf(TypeError);
    // harden of something already hardened changes nothing and throws nothing.
    expect(harden(value)).toBe(value);
  });

  it('returns from toCapData what is hardened, and the same bytes as before', () => {
    const remotable = Far('thing', {});
    const marshal = makeMarshal(() => 'o+1', undefined, { serializeBodyFormat: 'smallcaps' });
    const data = marshal.toCapData(harden({ n: [1, -0, 'x', '#y', 10n, undefined], r: remotable, again: remotable }));
    expect(deepFrozen(data)).toBe(true);
    expect(data).toEqual({ body: '#{"again":"$0.Alleged: thing","n":[1,0,"x","!#y","+10","#undefined"],"r":"$0"}', slots: ['o+1'] });
    // Slots that are objects (the default convertValToSlot passes the remotable itself): hardened too.
    const identity = makeMarshal(undefined, undefined, { serializeBodyFormat: 'smallcaps' });
    const withObjects = identity.toCapData(harden([remotable]));
    expect(deepFrozen(withObjects)).toBe(true);
    expect(withObjects.slots).toEqual([remotable]);
    const legacy = makeMarshal(() => 'o+1', undefined, { serializeBodyFormat: 'capdata' });
    const old = legacy.toCapData(harden([remotable, 1]));
    expect(deepFrozen(old)).toBe(true);
    expect(old).toEqual({ body: '[{"@qclass":"slot","iface":"Alleged: thing","index":0},1]', slots: ['o+1'] });
  });

  it('gives a call made inside another call its own slots, both ways', () => {
    const things = new Map<string, ReturnType<typeof Far>>();
    const thing = (name: string) => {
      const found = things.get(name);
      if (found === undefined) throw Error(`no ${name} yet`);
      return found;
    };
    // Reviving slot "outer" decodes other capdata with the same marshaller first, as liveslots does.
    // eslint-disable-next-line prefer-const
    let marshal: ReturnType<typeof makeMarshal<string>>;
    const slotToVal = (slot: string) => {
      if (slot === 'outer') {
        const inner = marshal.fromCapData({ body: '#["$1.Alleged: inner2","$0.Alleged: inner"]', slots: ['inner', 'inner2'] });
        expect(inner).toEqual([things.get('inner2'), things.get('inner')]);
      }
      const made = things.get(slot) ?? Far(slot, {});
      things.set(slot, made);
      return made;
    };
    const valToSlot = (value: object) => {
      const slot = [...things].find(([, thing]) => thing === value)?.[0] ?? 'new';
      if (slot === 'outer') {
        // Encoding inside an encoding: its slots must not show up in the outer one.
        expect(marshal.toCapData(harden([thing('inner')]))).toEqual({ body: '#["$0.Alleged: inner"]', slots: ['inner'] });
      }
      return slot;
    };
    marshal = makeMarshal(valToSlot, slotToVal, { serializeBodyFormat: 'smallcaps' });
    const decoded = marshal.fromCapData({ body: '#["$0.Alleged: outer","$1.Alleged: other","$0"]', slots: ['outer', 'other'] }) as object[];
    expect(decoded).toEqual([things.get('outer'), things.get('other'), things.get('outer')]);
    expect(deepFrozen(decoded)).toBe(true);
    const encoded = marshal.toCapData(harden([thing('other'), thing('outer'), thing('other')]));
    expect(encoded.slots).toEqual(['other', 'outer']);
    expect(encoded.body).toBe('#["$0.Alleged: other","$1.Alleged: outer","$0"]');
  });

  it('keeps nothing of a call once it returns or throws', () => {
    const made = new Map<string, object>();
    const slotToVal = (slot: string | undefined) => {
      if (slot === undefined) throw Error('no such slot');
      const thing = made.get(slot) ?? Far(slot, {});
      made.set(slot, thing);
      return thing;
    };
    const marshal = makeMarshal(() => 'o+1', slotToVal, { serializeBodyFormat: 'smallcaps' });
    expect(() => marshal.fromCapData({ body: '#["$0","$5"]', slots: ['o-1'] })).toThrow('no such slot');
    // The failed call's slots and revived values are gone: "$0" is this call's own o-9.
    expect(marshal.fromCapData({ body: '#["$0"]', slots: ['o-9'] })).toEqual([made.get('o-9')]);
    expect(marshal.toCapData(harden(['a'])).slots).toEqual([]);
  });
});
