import { LengthPrefixedDecoder } from '@libp2p/utils';
import { describe, expect, it } from 'vitest';

/**
 * patches/@libp2p+utils+7.4.1.patch: the length-prefixed decoder Noise
 * reads every chunk with stops when its buffer is empty, instead of asking
 * the length decoder, which throws a RangeError (and records a stack) at
 * the end of every chunk. Noise's frames: a 2-byte big-endian length, then
 * that many bytes.
 */

type Buffered = Parameters<NonNullable<NonNullable<ConstructorParameters<typeof LengthPrefixedDecoder>[0]>['lengthDecoder']>>[0];

/** Noise's length decoder, recording how many bytes it was given each time. */
function recordingUint16Decoder(sizes: number[]) {
  const decode = (data: Buffered): number => {
    sizes.push(data.byteLength);
    if (data.byteLength < 2) throw new RangeError('Could not decode int16BE');
    return data instanceof Uint8Array ? (data[0]! << 8) + data[1]! : data.getUint16(0);
  };
  return decode;
}

function noiseFrames(...payloads: string[]): Uint8Array {
  const parts = payloads.map((text) => {
    const body = new TextEncoder().encode(text);
    return Uint8Array.from([body.byteLength >> 8, body.byteLength & 0xff, ...body]);
  });
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

const texts = (bufs: Iterable<Buffered>) => [...bufs].map((buf) => new TextDecoder().decode(buf.subarray()));

describe('the @libp2p/utils length-prefixed decoder patch', () => {
  it('does not ask the length decoder about an empty buffer: a chunk of whole frames throws nothing', () => {
    const sizes: number[] = [];
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: recordingUint16Decoder(sizes), encodingLength: () => 2 });
    expect(texts(decoder.decode(noiseFrames('first', 'second')))).toEqual(['first', 'second']);
    expect(texts(decoder.decode(noiseFrames('third')))).toEqual(['third']);
    expect(sizes.length).toBe(3);
    expect(sizes).not.toContain(0);
  });

  it('still waits for the rest of a length prefix or a frame cut across chunks', () => {
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: recordingUint16Decoder([]), encodingLength: () => 2 });
    const bytes = noiseFrames('across', 'chunks', 'one byte at a time');
    const out: string[] = [];
    for (const byte of bytes) out.push(...texts(decoder.decode(Uint8Array.of(byte))));
    expect(out).toEqual(['across', 'chunks', 'one byte at a time']);
  });
});
