/**
 * Keys of a lean vat's map stores, encoded so that the vatstore's byte order
 * is the stores' iteration order: numbers first, in numeric order, then
 * strings, in the byte order of their UTF-8 (the vatstore's). Only strings
 * and finite numbers are keys: the lean runtime has no ranks for objects.
 */

/** The encoded form of `key`, or a TypeError saying why it cannot be a key. */
export function encodeStoreKey(key: unknown): string {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number' && Number.isFinite(key)) return `n${sortableNumber(key)}`;
  throw new TypeError(`a lean vat's map store takes strings and finite numbers as keys, not ${describeKey(key)}`);
}

export function decodeStoreKey(encoded: string): string | number {
  if (encoded.startsWith('s')) return encoded.slice(1);
  if (encoded.startsWith('n') && encoded.length === 17) return numberFromSortable(encoded.slice(1));
  throw new Error(`bad encoded store key ${JSON.stringify(encoded)}`);
}

/**
 * Eight bytes to move a number's bits through, shared by every call: each
 * call writes them before it reads them and calls nothing in between. A
 * fresh ArrayBuffer a key cost more than the rest of the encoding (a
 * recorder's `init` spent 4-5 µs a message in it, profiled).
 */
const scratch = new DataView(new ArrayBuffer(8));

/**
 * The IEEE 754 bits of `n`, big-endian, in hex, flipped so that they sort as
 * the numbers do: negative numbers have every bit flipped, others only the
 * sign bit. -0 is 0 (the stores cannot tell them apart).
 */
function sortableNumber(n: number): string {
  const view = scratch;
  view.setFloat64(0, n === 0 ? 0 : n);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const negative = high >>> 31 === 1;
  const flippedHigh = negative ? ~high >>> 0 : (high | 0x8000_0000) >>> 0;
  const flippedLow = negative ? ~low >>> 0 : low;
  return flippedHigh.toString(16).padStart(8, '0') + flippedLow.toString(16).padStart(8, '0');
}

function numberFromSortable(hex: string): number {
  const flippedHigh = Number.parseInt(hex.slice(0, 8), 16);
  const flippedLow = Number.parseInt(hex.slice(8), 16);
  const negative = flippedHigh >>> 31 === 0;
  const view = scratch;
  view.setUint32(0, negative ? ~flippedHigh >>> 0 : (flippedHigh & 0x7fff_ffff) >>> 0);
  view.setUint32(4, negative ? ~flippedLow >>> 0 : flippedLow);
  return view.getFloat64(0);
}

function describeKey(key: unknown): string {
  if (typeof key === 'number') return String(key);
  if (typeof key === 'object' && key !== null) return 'an object';
  return `a ${typeof key}`;
}
