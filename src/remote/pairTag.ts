import { createHash } from 'node:crypto';

/**
 * The pair a `msg` or `ack` frame belongs to: the first 8 bytes (16 hex
 * characters) of SHA-256 over the sender's incarnation as it presents it to
 * the receiver and the receiver's as the sender last learned it (none
 * before it learned one). Every start-over changes one side's incarnation,
 * so a frame of the old pair read after it (from an older connection, or
 * held on the way) names another pair, and the receiver ignores it
 * (docs/protocol.md, "Incarnations").
 */
export function pairTagOf(senderIncarnation: string, receiverIncarnation: string | null): string {
  const pair = `${senderIncarnation}/${receiverIncarnation ?? ''}`;
  let tag = knownTags.get(pair);
  if (tag === undefined) {
    tag = createHash('sha256').update(pair).digest('hex').slice(0, 16);
    // Few pairs are live at once; the bound is only against a peer that keeps changing incarnations.
    if (knownTags.size >= maxKnownTags) knownTags.clear();
    knownTags.set(pair, tag);
  }
  return tag;
}

/** Tags computed, by their two incarnations: each frame sent and received needs one, and the pairs rarely change. */
const knownTags = new Map<string, string>();
const maxKnownTags = 4096;

export const pairTagPattern = /^[0-9a-f]{16}$/;
