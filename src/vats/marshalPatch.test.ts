import { makeMarshal } from '@endo/marshal';
import { describe, expect, it } from 'vitest';

/**
 * patches/@endo+marshal+1.10.0.patch takes two `harden` calls out of
 * `fromCapData` (of the JSON it parsed, and of the internal decoders it
 * makes per call): liveslots decodes every delivery with it, and those
 * hardens were about 8% of a liveslots crank (docs/benchmarks.md). What
 * a caller gets must still be hardened all the way down.
 */
describe('the @endo/marshal patch', () => {
  it('is applied, and what fromCapData returns is still hardened all the way down', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../../node_modules/@endo/marshal/src/marshal.js', import.meta.url), 'utf8');
    expect(source).toContain('const encoding = JSON.parse(smallcapsBody);');
    const marshal = makeMarshal(undefined, undefined, { serializeBodyFormat: 'smallcaps' });
    const value = marshal.fromCapData({ body: '#{"a":[1,{"b":"c"}],"d":{"e":[]}}', slots: [] }) as { a: [number, { b: string }]; d: { e: unknown[] } };
    const all = [value, value.a, value.a[1], value.d, value.d.e];
    expect(all.every((part) => Object.isFrozen(part))).toBe(true);
    // harden of something already hardened changes nothing and throws nothing.
    expect(harden(value)).toBe(value);
  });
});
