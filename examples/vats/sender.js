// A sending vat: numbers its messages with a durable counter, so a restart
// continues where the last committed crank stopped.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('nextSeq')) {
    baggage.init('nextSeq', 1);
  }
  /** Sends up to `size` numbered messages to `target` with `send`, never beyond `last`; returns the last seq sent. */
  const sendNumbered = (send, target, size, last) => {
    let next = baggage.get('nextSeq');
    const end = Math.min(next + size, last + 1);
    for (; next < end; next += 1) {
      send(target, next);
    }
    baggage.set('nextSeq', next);
    return next - 1;
  };
  /** Each message with a result promise (dropped here: nobody waits for it). */
  const sendBatch = (target, size, last) => sendNumbered((to, seq) => void E(to).receive(seq), target, size, last);
  /** Each message send-only: no result promise, so nothing comes back. */
  const sendOnlyBatch = (target, size, last) => sendNumbered((to, seq) => E.sendOnly(to).receive(seq), target, size, last);
  return Far('sender', {
    sendBatch,
    sendOnlyBatch,
    nextSeq() {
      return baggage.get('nextSeq');
    },
    /** Remembers, durably, where `sendBatchToTarget` sends (a remote recorder, say). */
    setTarget(target) {
      if (baggage.has('target')) baggage.set('target', target);
      else baggage.init('target', target);
    },
    hasTarget() {
      return baggage.has('target');
    },
    sendBatchToTarget(size, last) {
      return sendBatch(baggage.get('target'), size, last);
    },
    sendOnlyBatchToTarget(size, last) {
      return sendOnlyBatch(baggage.get('target'), size, last);
    },
    /** How many messages the target has consumed, asked after every message sent to it so far (and answered after them). */
    targetCount() {
      return E(baggage.get('target')).count();
    },
    /** `rounds` sequential round trips to `peer`, numbered from `first`, each awaiting the reply. */
    async pingPong(peer, rounds, first = 1) {
      for (let round = first; round < first + rounds; round += 1) {
        // eslint-disable-next-line no-await-in-loop
        await E(peer).receive(round);
      }
      return rounds;
    },
  });
}
