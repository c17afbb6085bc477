import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strictly } from './fromBase64.js';

const bytesOf = (array: Uint8Array) => [...array];

describe('Uint8Array.fromBase64 on Node\'s decoder', () => {
  it('gives back the bytes of every padded encoding, in strict mode, with ASCII whitespace anywhere', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        let text = Buffer.from(bytes).toString('base64');
        for (const cut of cuts) text = `${text.slice(0, cut % (text.length + 1))}\n ${text.slice(cut % (text.length + 1))}`;
        expect(bytesOf(decodeBase64Strictly(text, { lastChunkHandling: 'strict' }))).toEqual([...bytes]);
      }),
    );
  });

  it('takes unpadded base64url loosely, drops a partial chunk when asked, and refuses it when strict', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        expect(bytesOf(decodeBase64Strictly(text, { alphabet: 'base64url' }))).toEqual([...bytes]);
        const whole = Math.floor(bytes.length / 3) * 3;
        expect(bytesOf(decodeBase64Strictly(text, { alphabet: 'base64url', lastChunkHandling: 'stop-before-partial' }))).toEqual([...bytes.slice(0, whole)]);
        if (whole !== bytes.length) expect(() => decodeBase64Strictly(text, { alphabet: 'base64url', lastChunkHandling: 'strict' })).toThrow(SyntaxError);
      }),
    );
  });

  it('refuses what is not base64', () => {
    for (const text of ['QQ=', 'Q', 'QQ==QQ==', 'Q!==', 'QQ-_', '====']) expect(() => decodeBase64Strictly(text, { lastChunkHandling: 'strict' }), text).toThrow(SyntaxError);
    // Bits set beyond the last byte: strict mode refuses them, loose mode ignores them.
    expect(() => decodeBase64Strictly('QR==', { lastChunkHandling: 'strict' })).toThrow(SyntaxError);
    expect(bytesOf(decodeBase64Strictly('QR=='))).toEqual([0x41]);
    expect(() => decodeBase64Strictly('QQ==', { alphabet: 'base32' })).toThrow(TypeError);
  });

  it('is installed as Uint8Array.fromBase64, which @endo/base64 (importBundle\'s decoder) prefers to its own loop', () => {
    const { fromBase64 } = Uint8Array as unknown as { fromBase64: (text: string, options: object) => Uint8Array };
    expect(bytesOf(fromBase64(Buffer.from('a vat bundle').toString('base64'), { lastChunkHandling: 'strict', alphabet: 'base64' }))).toEqual([...Buffer.from('a vat bundle')]);
  });
});
