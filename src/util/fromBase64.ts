/**
 * `Uint8Array.fromBase64` (ES2026) for a Node that lacks it (Node 20 and
 * 22), on Node's own base64 decoder: installed before SES lockdown, which
 * permits it, and before `@endo/base64` loads, which then decodes with it
 * instead of its JavaScript loop. Every vat start decodes its bundle (a few
 * hundred kilobytes of base64): the loop took an eighth of the simulation's
 * CPU. It follows the proposal's rules for what it accepts (the alphabet,
 * ASCII whitespace skipped, padding, `lastChunkHandling`); a string it
 * refuses throws a SyntaxError, as the native one does.
 */

type LastChunkHandling = 'loose' | 'strict' | 'stop-before-partial';

const alphabets = {
  base64: /^[A-Za-z0-9+/]*$/,
  base64url: /^[A-Za-z0-9_-]*$/,
} as const;
const asciiWhitespace = /[\t\n\f\r ]/g;

/** The bytes `text` encodes, under the proposal's rules; throws a SyntaxError for text they refuse. */
export function decodeBase64Strictly(text: string, options: { alphabet?: string; lastChunkHandling?: string } = {}): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fromBase64 takes a string');
  const alphabet = options.alphabet ?? 'base64';
  const handling = (options.lastChunkHandling ?? 'loose') as LastChunkHandling;
  if (alphabet !== 'base64' && alphabet !== 'base64url') throw new TypeError(`unknown alphabet ${String(alphabet)}`);
  if (!['loose', 'strict', 'stop-before-partial'].includes(handling)) throw new TypeError(`unknown lastChunkHandling ${String(handling)}`);
  const compact = text.replace(asciiWhitespace, '');
  const padding = compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0;
  let body = compact.slice(0, compact.length - padding);
  if (!alphabets[alphabet].test(body)) throw new SyntaxError('not base64: a character outside the alphabet, or padding before the end');
  const partial = body.length % 4;
  if (partial === 1) throw new SyntaxError('not base64: a last chunk of one character');
  if (padding > 0 && partial + padding !== 4) throw new SyntaxError('not base64: padding that does not fill the last chunk');
  if (padding === 0 && partial > 0) {
    if (handling === 'strict') throw new SyntaxError('not base64: the last chunk is not padded');
    if (handling === 'stop-before-partial') body = body.slice(0, body.length - partial);
  }
  const bytes = Buffer.from(alphabet === 'base64url' ? body.replaceAll('-', '+').replaceAll('_', '/') : body, 'base64');
  if (handling === 'strict' && (padding > 0 || partial > 0) && !lastChunkBitsAreZero(body, bytes.length)) {
    throw new SyntaxError('not base64: the last chunk has bits set beyond its bytes');
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length).slice();
}

/** Whether the bits the last partial chunk of `body` carries beyond its bytes are zero (strict decoding requires it). */
function lastChunkBitsAreZero(body: string, byteCount: number): boolean {
  const last = body.at(-1);
  if (last === undefined) return true;
  const value = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_'.indexOf(last) % 64;
  // A chunk of 2 characters carries 1 byte (4 spare bits), one of 3 carries 2 (2 spare bits).
  const spareBits = body.length % 4 === 2 ? 4 : 2;
  return byteCount === 0 || (value & ((1 << spareBits) - 1)) === 0;
}

if (typeof (Uint8Array as { fromBase64?: unknown }).fromBase64 !== 'function') {
  // A method (not a `function`) so it has no `prototype` for lockdown to complain about.
  const polyfill = {
    fromBase64(text: string, options?: { alphabet?: string; lastChunkHandling?: string }): Uint8Array {
      return decodeBase64Strictly(text, options);
    },
  };
  Object.defineProperty(Uint8Array, 'fromBase64', { value: polyfill.fromBase64, writable: true, configurable: true });
}
