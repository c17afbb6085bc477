import { z } from 'zod';
import { fastFrame, wireRefPattern } from './frameFastPath.js';
import { pairTagPattern } from './pairTag.js';

/**
 * The wire format between peers: JSON frames, each validated against a
 * schema before anything reads it (size is capped by the transport).
 *
 * Refs in a frame are written from the sender's point of view: `o+N`/`p+N`
 * name what the sender allocated, `o-N`/`p-N` what the receiver did. The
 * receiver flips the sign to get its own c-list name.
 *
 * Every frame carries `window`: the highest seq of the receiver's messages
 * the sender will take now (flow control, `inboundCredit.ts`). Version 2 of
 * the protocol (`/ken-node/frames/2.0.0`) added it; version 3 added to
 * `hello` the dial addresses and the sequence numbers that show a rollback;
 * version 4 added to `msg` and `ack` the pair they belong to (`pairTag.ts`);
 * version 5 added to every message body `seen`, the highest seq of the
 * receiver's messages the sender had consumed when it made the message
 * (fixed then: a resend carries the same), by which the receiver retires
 * the refs of promises it notified the sender of (`store/retiringRefs.ts`);
 * version 6 added to `ack` `sent`, the highest seq of the sender's
 * messages committed when it made the ack, so that a peer that sends no
 * more messages retires those refs with its acks.
 */

const wireRef = z.string().regex(wireRefPattern, 'a ref like o+1, o-2, p+3 or p-4');
const capData = z.object({ body: z.string(), slots: z.array(wireRef) }).strict();
const incarnation = z.string().regex(/^[0-9a-f]{32}$/);
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** How many dial addresses a hello may name: as many as a node keeps per peer. */
export const maxHelloAddresses = 16;
const dialAddress = z.string().min(1).max(256);
const seqRange = z.tuple([seq, seq]);
const pairTag = z.string().regex(pairTagPattern, '16 hex characters');
/** What a node that found its store rolled back tells the peer it starts the pair over with: what each side lost (`rollback.ts`). */
const startedOverSchema = z.object({ forgottenSends: seqRange.nullable(), lostReceives: seqRange.nullable() }).strict();

const deliverBody = z
  .object({ kind: z.literal('deliver'), target: wireRef, methargs: capData, result: wireRef.nullable(), seen: seq })
  .strict();
const notifyBody = z
  .object({ kind: z.literal('notify'), resolutions: z.array(z.tuple([wireRef, z.boolean(), capData])).min(1), seen: seq })
  .strict();
const redeemBody = z
  .object({ kind: z.literal('redeem'), swiss: z.string().regex(/^[0-9a-f]{32,128}$/), result: wireRef, seen: seq })
  .strict();

export const messageBody = z.discriminatedUnion('kind', [deliverBody, notifyBody, redeemBody]);

export const frameSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('hello'),
      incarnation,
      /** The receiver's incarnation as the sender knows it: acks count only if it is current. */
      yourIncarnation: incarnation.nullable(),
      receivedSeq: seq,
      /** The digest of the body of the sender's message #receivedSeq from the receiver (`bodyDigest`); null before one. */
      receivedDigest: z.string().regex(/^[0-9a-f]{32}$/).nullable(),
      /** The highest seq the sender committed to send the receiver, and the highest the receiver acked: with `receivedSeq`, what shows a rolled-back store. */
      sentSeq: seq,
      ackedSeq: seq,
      window: seq,
      /**
       * Where the sender can be dialled (its listen multiaddrs), so that a
       * peer that owes it frames can reconnect whoever dialled first.
       */
      addresses: z.array(dialAddress).max(maxHelloAddresses),
      /** Set while the sender presents a new incarnation to the receiver because it found its own store rolled back; null otherwise. */
      startedOver: startedOverSchema.nullable(),
    })
    .strict(),
  z.object({ type: z.literal('msg'), seq: seq.min(1), ack: seq, window: seq, pair: pairTag, body: messageBody }).strict(),
  z.object({ type: z.literal('ack'), ack: seq, window: seq, pair: pairTag, sent: seq }).strict(),
]);

export type MessageBody = z.infer<typeof messageBody>;
/** A message body as a router makes it: `appendToOutbox` adds `seen` as it writes the row. */
export type MessageContent = MessageBody extends infer Body ? (Body extends unknown ? Omit<Body, 'seen'> : never) : never;
export type Frame = z.infer<typeof frameSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(frame: Frame): Uint8Array {
  return encoder.encode(JSON.stringify(frame));
}

/** A `msg` frame around a body already stored as JSON in the outbox, without re-parsing it. */
export function encodeMsgFrame(sequence: number, ack: number, window: number, pair: string, bodyJson: string): Uint8Array {
  return encoder.encode(`{"type":"msg","seq":${sequence},"ack":${ack},"window":${window},"pair":"${pair}","body":${bodyJson}}`);
}

export class BadFrameError extends Error {
  override name = 'BadFrameError';
}

/** Parses and validates a frame; throws {@link BadFrameError} saying what is wrong. */
export function decodeFrame(bytes: Uint8Array): Frame {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new BadFrameError(`not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  // The steady state's frames, checked without zod (the same verdict: frameFastPath.ts); the rest, and every refusal, by the schema.
  const fast = fastFrame(json);
  if (fast !== undefined) return fast;
  const parsed = frameSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadFrameError(`invalid frame at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`);
  }
  return parsed.data;
}

/** Flips a wire ref between the sender's and the receiver's point of view. */
export function flipRef(ref: string): string {
  return ref[1] === '+' ? `${ref[0]}-${ref.slice(2)}` : `${ref[0]}+${ref.slice(2)}`;
}
