/**
 * Length-prefixed frames on a byte stream: each frame is its length as an
 * unsigned varint (LEB128), then its bytes. The bytes on the wire are the
 * ones `lpStream` of `@libp2p/utils` reads and writes; this module exists
 * because that reader and writer cost more than the rest of the transport.
 * `lpStream.read` awaits each varint byte on its own and looks each one up
 * in a list of the chunks received so far, a search as long as the list: a
 * node that falls behind a fast peer paid more per frame the further behind
 * it was. `lpStream.writeV` hands Noise a list of two chunks per frame, and
 * Noise and TCP write each chunk with a write of its own: two syscalls per
 * frame. Here a batch of frames is one buffer, and a chunk received is
 * split into frames in one pass.
 */

/** A length prefix over the largest frame accepted, or one that does not end: the peer's stream cannot be read. */
export class FrameLengthError extends Error {
  override readonly name = 'FrameLengthError';
}

/** Bytes of the varint of `value`. */
function varintLength(value: number): number {
  let bytes = 1;
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) bytes += 1;
  return bytes;
}

/** Writes the varint of `value` into `into` at `offset`; returns the offset after it. */
function writeVarint(value: number, into: Uint8Array, offset: number): number {
  let rest = value;
  let at = offset;
  while (rest >= 128) {
    into[at] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
    at += 1;
  }
  into[at] = rest;
  return at + 1;
}

/** `frames`, each after its length, in one buffer: one write to the stream, one Noise message, one syscall. */
export function encodeFrames(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const frame of frames) total += varintLength(frame.byteLength) + frame.byteLength;
  const buffer = new Uint8Array(total);
  let offset = 0;
  for (const frame of frames) {
    offset = writeVarint(frame.byteLength, buffer, offset);
    buffer.set(frame, offset);
    offset += frame.byteLength;
  }
  return buffer;
}

/**
 * Splits the chunks of a byte stream, as they arrive, into frames. Holds
 * at most one incomplete frame (no more than `maxFrameBytes` and its
 * prefix), as the chunks it arrived in; a frame inside one chunk is handed
 * on as a view of it, not a copy.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #maxPrefixBytes: number;
  /** The bytes of an incomplete frame, as received. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** How many bytes must be held before the incomplete frame can be whole. */
  #needed = 1;
  /** Where the frame {@link #frameEnd} last found starts (after its prefix). */
  #frameStart = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#maxPrefixBytes = varintLength(maxFrameBytes);
  }

  /** Hands each frame `chunk` completes to `onFrame`, in order; throws {@link FrameLengthError} for a prefix it must refuse. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (chunk.byteLength === 0) return;
    this.#held.push(chunk);
    this.#heldBytes += chunk.byteLength;
    if (this.#heldBytes < this.#needed) return;
    const bytes = this.#held.length === 1 ? chunk : concat(this.#held, this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    let offset = 0;
    while (offset < bytes.byteLength) {
      const frameEnd = this.#frameEnd(bytes, offset);
      if (frameEnd > bytes.byteLength) {
        this.#needed = frameEnd - offset;
        break;
      }
      onFrame(bytes.subarray(this.#frameStart, frameEnd));
      offset = frameEnd;
      this.#needed = 1;
    }
    if (offset < bytes.byteLength) {
      this.#held.push(bytes.subarray(offset));
      this.#heldBytes = bytes.byteLength - offset;
    }
  }

  /**
   * Where the frame that starts at `offset` ends, or past the end of
   * `bytes` by at least one byte if they do not hold it whole (for an
   * incomplete prefix: one more byte than there is).
   */
  #frameEnd(bytes: Uint8Array, offset: number): number {
    let length = 0;
    let scale = 1;
    for (let at = offset; at < bytes.byteLength; at += 1) {
      if (at - offset >= this.#maxPrefixBytes) {
        throw new FrameLengthError(`frame length prefix longer than ${this.#maxPrefixBytes} bytes`);
      }
      const byte = bytes[at] as number;
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (length > this.#maxFrameBytes) throw new FrameLengthError(`frame length ${length} over the ${this.#maxFrameBytes}-byte limit`);
        this.#frameStart = at + 1;
        return at + 1 + length;
      }
      scale *= 128;
    }
    return bytes.byteLength + 1;
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return joined;
}
