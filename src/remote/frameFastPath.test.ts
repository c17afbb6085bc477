import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastFrame } from './frameFastPath.js';
import { frameSchema } from './frames.js';

/**
 * The fast path must never accept what the frame schema refuses, nor
 * change what it accepts: whatever it returns, zod returns too, equal. And
 * it must take the frames of a busy session (else it buys nothing).
 */

const wireRef = fc.oneof(
  fc.tuple(fc.constantFrom('o', 'p'), fc.constantFrom('+', '-'), fc.integer({ min: 1, max: 2 ** 40 })).map(([kind, sign, n]) => `${kind}${sign}${n}`),
  // Near misses: no number, a zero, a leading zero, another letter, too long, a number, null.
  fc.constantFrom('o+', 'p-0', 'o+01', 'x+1', `o+${'9'.repeat(17)}`, 'o+1 ', 7, null),
);
/** 16 hex characters, and near misses: upper case, too short, too long, another letter, a number. */
const goodPair = fc.stringMatching(/^[0-9a-f]{16}$/);
const pair = fc.oneof(goodPair, fc.constantFrom('ABCDEF0123456789', '0123456789abcde', '0123456789abcdef0', 'g123456789abcdef', 1234567890123456, null));
const seq = fc.oneof(fc.nat(), fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, -1, 1.5, '3', null, -0));
const capData = fc.oneof(
  fc.record({ body: fc.string(), slots: fc.array(wireRef, { maxLength: 3 }) }),
  fc.record({ body: fc.oneof(fc.string(), fc.integer()), slots: fc.oneof(fc.array(wireRef, { maxLength: 2 }), fc.constant('o+1')), extra: fc.anything() }, { requiredKeys: ['body'] }),
);
const body = fc.oneof(
  fc.record({ kind: fc.constant('deliver'), target: wireRef, methargs: capData, result: fc.oneof(wireRef, fc.constant(null)), seen: seq }, { requiredKeys: ['kind', 'target', 'methargs', 'result'] }),
  fc.record({ kind: fc.constant('notify'), resolutions: fc.array(fc.tuple(wireRef, fc.oneof(fc.boolean(), fc.constant(0)), capData), { maxLength: 3 }), seen: seq }, { requiredKeys: ['kind', 'resolutions'] }),
  fc.record({ kind: fc.constant('notify'), resolutions: fc.array(fc.array(fc.anything(), { maxLength: 4 }), { maxLength: 2 }), seen: seq }),
  fc.record({ kind: fc.constant('redeem'), swiss: fc.constant('ab'.repeat(16)), result: wireRef, seen: seq }),
  fc.record({ kind: fc.constantFrom('deliver', 'notify', 'other'), target: wireRef, seen: seq }, { requiredKeys: [] }),
);
const frame = fc.oneof(
  fc.record({ type: fc.constant('msg'), seq, ack: seq, window: seq, pair, body }),
  fc.record({ type: fc.constant('ack'), ack: seq, window: seq, pair, sent: seq }),
  // Extra, missing or misnamed keys.
  fc.record({ type: fc.constantFrom('msg', 'ack', 'hello'), seq, ack: seq, window: seq, pair, body, sent: seq, extra: fc.anything() }, { requiredKeys: ['type'] }),
  fc.anything(),
);

/** As the wire gives it: JSON, parsed. */
const fromWire = (value: unknown) => (value === undefined ? undefined : (JSON.parse(JSON.stringify(value) ?? 'null') as unknown));

describe('the frame fast path', () => {
  it('accepts only what the frame schema accepts, and returns what it returns', () => {
    fc.assert(
      fc.property(frame, (value) => {
        const json = fromWire(value);
        const fast = fastFrame(json);
        if (fast === undefined) return;
        const judged = frameSchema.safeParse(json);
        expect(judged.success).toBe(true);
        expect(fast).toEqual(judged.data);
      }),
      { numRuns: 20_000 },
    );
  });

  it('takes every well-formed deliver, notify and ack frame', () => {
    const goodRef = fc.tuple(fc.constantFrom('o', 'p'), fc.constantFrom('+', '-'), fc.integer({ min: 1, max: 2 ** 40 })).map(([kind, sign, n]) => `${kind}${sign}${n}`);
    const goodData = fc.record({ body: fc.string(), slots: fc.array(goodRef, { maxLength: 3 }) });
    const goodBody = fc.oneof(
      fc.record({ kind: fc.constant('deliver'), target: goodRef, methargs: goodData, result: fc.oneof(goodRef, fc.constant(null)), seen: fc.nat() }),
      fc.record({ kind: fc.constant('notify'), resolutions: fc.array(fc.tuple(goodRef, fc.boolean(), goodData), { minLength: 1, maxLength: 3 }), seen: fc.nat() }),
    );
    const good = fc.oneof(
      fc.record({ type: fc.constant('msg'), seq: fc.integer({ min: 1 }), ack: fc.nat(), window: fc.nat(), pair: goodPair, body: goodBody }),
      fc.record({ type: fc.constant('ack'), ack: fc.nat(), window: fc.nat(), pair: goodPair, sent: fc.nat() }),
    );
    fc.assert(
      fc.property(good, (value) => {
        const json = fromWire(value);
        expect(frameSchema.safeParse(json).success).toBe(true);
        expect(fastFrame(json)).toEqual(json);
      }),
    );
  });
});
