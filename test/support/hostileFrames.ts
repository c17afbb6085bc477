import { encodeFrame, type Frame } from '../../src/remote/frames.js';

/**
 * Frames no honest peer sends, from a seeded random source: for fuzzing a
 * live node. None of them is a well-formed `hello` (a new incarnation in one
 * is the legitimate "I lost my state", which does change state).
 */
export type HostileKind = 'random bytes' | 'truncated' | 'type-confused' | 'oversized' | 'forbidden';
export const hostileKinds: readonly HostileKind[] = ['random bytes', 'truncated', 'type-confused', 'oversized', 'forbidden'];

const encoder = new TextEncoder();
const hex = (random: () => number, length: number) => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** Well-formed frames of every shape, to cut short or to corrupt; `pair` is the tag of the pair the receiver knows (pairTag.ts). */
function wellFormed(random: () => number, pair: string): Frame {
  const ref = () => `${pick(random, ['o', 'p'])}${pick(random, ['+', '-'])}${1 + Math.floor(random() * 50)}`;
  const capData = () => ({ body: `#${JSON.stringify([pick(random, ['x', 1, null, '$0.Alleged: x'])])}`, slots: random() < 0.5 ? [] : [ref()] });
  const seq = 1 + Math.floor(random() * 5);
  switch (Math.floor(random() * 6)) {
    case 0:
      return { type: 'hello', incarnation: hex(random, 32), yourIncarnation: random() < 0.5 ? null : hex(random, 32), receivedSeq: Math.floor(random() * 5), receivedDigest: null, window: Math.floor(random() * 5), sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null };
    case 1:
      return { type: 'ack', ack: Math.floor(random() * 5), window: Math.floor(random() * 5), pair, sent: Math.floor(random() * 5) };
    case 2:
      return { type: 'msg', seq, ack: 0, window: 0, pair, body: { kind: 'deliver', target: ref(), methargs: capData(), result: random() < 0.5 ? null : ref(), seen: 0 } };
    case 3:
      return { type: 'msg', seq, ack: 0, window: 0, pair, body: { kind: 'notify', resolutions: [[ref(), random() < 0.5, capData()]], seen: 0 } };
    default:
      return { type: 'msg', seq, ack: 0, window: 0, pair, body: { kind: 'redeem', swiss: hex(random, 32), result: ref(), seen: 0 } };
  }
}

/** A value of a type the schema does not expect where it is put. */
function confusedValue(random: () => number): unknown {
  return pick<unknown>(random, [
    null,
    true,
    -1,
    1.5,
    2 ** 53 + 2,
    1e308,
    '',
    'o+0',
    'p-00',
    '__proto__',
    [],
    [1, 'two'],
    {},
    JSON.parse('{"__proto__": {"polluted": true}}'),
    { toString: 'x' },
    'x'.repeat(300),
  ]);
}

/** Replaces one field, at any depth, of a frame's JSON object with a confused value (or deletes it, or adds one). */
function confuse(random: () => number, value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 4) return confusedValue(random);
  const copy: Record<string, unknown> = Array.isArray(value) ? ({ ...value } as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const roll = random();
  // Own properties, even for `__proto__` and `constructor` (plain assignment would set a prototype, or hit SES's frozen one).
  const put = (key: string, item: unknown) => Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
  if (roll < 0.1 || keys.length === 0) put(pick(random, ['extra', 'type', '__proto__', 'constructor']), confusedValue(random));
  else if (roll < 0.2) delete copy[pick(random, keys)];
  else {
    const key = pick(random, keys);
    put(key, random() < 0.5 ? confusedValue(random) : confuse(random, copy[key], depth + 1));
  }
  return Array.isArray(value) ? Object.values(copy) : copy;
}

/** One hostile frame of `kind`. */
export function hostileFrame(random: () => number, kind: HostileKind, pair: string): Uint8Array {
  switch (kind) {
    case 'random bytes':
      return Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256));
    case 'truncated': {
      const bytes = encodeFrame(wellFormed(random, pair));
      return bytes.slice(0, Math.floor(random() * bytes.length));
    }
    case 'type-confused': {
      // Confusion that happens to leave a valid frame would be honest: confuse until it is not.
      for (let attempt = 0; attempt < 10; attempt += 1) {
        const text = JSON.stringify(confuse(random, wellFormed(random, pair)));
        if (text !== undefined && !isWellFormedHello(text)) return encoder.encode(text);
      }
      return encoder.encode('{"type":"hello"}');
    }
    case 'oversized': {
      // Far above any field's bounds, under the transport's frame cap (which has a test of its own).
      const huge = 'x'.repeat(16 * 1024 + Math.floor(random() * 48 * 1024));
      return encoder.encode(
        pick(random, [
          JSON.stringify({ type: 'msg', seq: 1, ack: 0, window: 0, pair, body: { kind: 'deliver', target: 'o-1', methargs: { body: huge, slots: [] }, result: null, seen: 0 } }),
          JSON.stringify({ type: 'ack', ack: huge, window: 0, pair, sent: 0 }),
          JSON.stringify({ type: 'msg', seq: 1, ack: 0, window: 0, pair, body: { kind: 'redeem', swiss: huge, result: 'p+1', seen: 0 } }),
          `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
          JSON.stringify({ type: 'msg', seq: 1, ack: 0, window: 0, pair, body: { kind: 'notify', resolutions: Array.from({ length: 2000 }, () => ['p-1', true, { body: '#0', slots: [] }]), seen: 0 } }),
        ]),
      );
    }
    case 'forbidden': {
      // Valid JSON of a valid shape that the protocol forbids: refs never given, promises the peer does not decide, acks of what was never sent.
      // (A redeem of an unknown swiss is not among them: it is an honest request, answered with a rejection.)
      const frame = wellFormed(random, pair);
      if (frame.type === 'hello') return encodeFrame({ type: 'ack', ack: 1 + Math.floor(random() * 1000), window: 0, pair, sent: 0 });
      if (frame.type !== 'msg') return encodeFrame(frame);
      const body = frame.body.kind === 'redeem' ? { kind: 'deliver' as const, target: 'o-1', methargs: { body: '#[]', slots: [] }, result: frame.body.result, seen: 0 } : frame.body;
      return encodeFrame({ ...frame, seq: 1, body });
    }
    default:
      throw new Error(`unknown kind ${JSON.stringify(kind satisfies never)}`);
  }
}

function isWellFormedHello(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as { type?: unknown; incarnation?: unknown };
    return parsed.type === 'hello' && typeof parsed.incarnation === 'string' && /^[0-9a-f]{32}$/.test(parsed.incarnation);
  } catch {
    return false;
  }
}
