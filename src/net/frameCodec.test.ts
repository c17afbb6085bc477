import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrames, FrameDecoder, FrameLengthError } from './frameCodec.js';

/** Every frame `decoder` finds in `chunks`, fed in order, as byte arrays. */
function decodeAll(decoder: FrameDecoder, chunks: readonly Uint8Array[]): number[][] {
  const frames: number[][] = [];
  for (const chunk of chunks) decoder.push(chunk, (frame) => frames.push([...frame]));
  return frames;
}

/** `bytes` cut at `cuts` (positions taken modulo its length + 1). */
function cutAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.byteLength]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

describe('length-prefixed frames', () => {
  it('writes each length as an unsigned LEB128 varint, as lpStream of @libp2p/utils does', () => {
    /** The prefix of a frame of `length` bytes: up to and with its first byte under 0x80. */
    const prefixOf = (length: number) => {
      const bytes = [...encodeFrames([new Uint8Array(length)])];
      return bytes.slice(0, bytes.findIndex((byte) => byte < 0x80) + 1);
    };
    expect([0, 1, 127, 128, 300, 16_384].map(prefixOf)).toEqual([[0x00], [0x01], [0x7f], [0x80, 0x01], [0xac, 0x02], [0x80, 0x80, 0x01]]);
  });

  it('gives back every frame, in order, however the stream cuts the bytes into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 3 }),
        (frames, cuts, batches) => {
          // The frames written in a few batches (writes), the bytes then cut anywhere.
          const size = Math.ceil(frames.length / batches) || 1;
          const written: Uint8Array[] = [];
          for (let at = 0; at < frames.length; at += size) written.push(encodeFrames(frames.slice(at, at + size)));
          const stream = new Uint8Array(written.reduce((total, batch) => total + batch.byteLength, 0));
          written.reduce((offset, batch) => (stream.set(batch, offset), offset + batch.byteLength), 0);
          expect(decodeAll(new FrameDecoder(1024), cutAt(stream, cuts))).toEqual(frames.map((frame) => [...frame]));
        },
      ),
    );
  });

  it('hands on a frame only when its last byte has arrived, and holds nothing after it', () => {
    const decoder = new FrameDecoder(1024);
    const bytes = encodeFrames([new Uint8Array(200).fill(7), Uint8Array.of(1, 2)]);
    // Prefix (2 bytes) and half the first frame: nothing yet.
    expect(decodeAll(decoder, [bytes.subarray(0, 1), bytes.subarray(1, 102)])).toEqual([]);
    expect(decodeAll(decoder, [bytes.subarray(102, 202)])).toEqual([Array(200).fill(7)]);
    expect(decodeAll(decoder, [bytes.subarray(202)])).toEqual([[1, 2]]);
  });

  it('refuses a length over the limit as soon as its prefix is read, and a prefix that does not end', () => {
    const over = encodeFrames([new Uint8Array(1025)]).subarray(0, 2);
    expect(() => new FrameDecoder(1024).push(over, () => {})).toThrow(FrameLengthError);
    expect(() => new FrameDecoder(1024).push(over, () => {})).toThrow(/1025 over the 1024-byte limit/);
    // The limit fits in two varint bytes: a third is refused, even before the prefix ends.
    expect(() => new FrameDecoder(1024).push(Uint8Array.of(0x80, 0x80, 0x80), () => {})).toThrow(/prefix longer than 2 bytes/);
    // At the limit, accepted.
    expect(decodeAll(new FrameDecoder(1024), [encodeFrames([new Uint8Array(1024)])])).toHaveLength(1);
  });
});
