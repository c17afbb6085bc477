// A party in the fault-injection workload: it sends numbered, tagged messages
// to the parties on other nodes and records, durably, every message it sends,
// every message it consumes, and every send whose result was rejected. The
// checker compares the records: what a committed crank sent must be consumed
// exactly once, in order, unchanged, or its rejection must have reached it.
// Given the timer service (parameters.timer), it also sends later: a durable
// wake-up handler sends the batch when the timer wakes it, and counts the
// wake-ups, each of which must come exactly once.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters, baggage) {
  if (!baggage.has('name')) {
    baggage.init('name', parameters.name);
    // peer name -> presence of that peer's party
    baggage.init('peers', VatData.makeScalarBigMapStore('peers', { durable: true }));
    // `${peer}` -> how many sent to / consumed from that peer
    baggage.init('sentCount', VatData.makeScalarBigMapStore('sentCount', { durable: true }));
    baggage.init('receivedCount', VatData.makeScalarBigMapStore('receivedCount', { durable: true }));
    // `${peer}:${n}` -> [seq, tag] of the n-th message sent to / consumed from that peer
    baggage.init('sent', VatData.makeScalarBigMapStore('sent', { durable: true }));
    baggage.init('received', VatData.makeScalarBigMapStore('received', { durable: true }));
    // `${peer}:${seq}:${tag}` -> [seq, tag] of a send whose result was rejected (the message may or may not have been consumed)
    baggage.init('rejected', VatData.makeScalarBigMapStore('rejected', { durable: true }));
    baggage.init('watcherKind', VatData.makeKindHandle('SendWatcher'));
    baggage.init('laterKind', VatData.makeKindHandle('LaterSend'));
    // tag -> how many times the wake-up of the later send with that tag came (0 until it does)
    baggage.init('later', VatData.makeScalarBigMapStore('later', { durable: true }));
  }
  const name = baggage.get('name');
  const peers = baggage.get('peers');
  const sentCount = baggage.get('sentCount');
  const receivedCount = baggage.get('receivedCount');
  const sent = baggage.get('sent');
  const received = baggage.get('received');
  const rejected = baggage.get('rejected');
  const later = baggage.get('later');
  // Durable, so that a rejection that comes after a restart of this vat is still recorded.
  const watchSend = VatData.defineDurableKind(baggage.get('watcherKind'), (peerName, seq, tag) => ({ peerName, seq, tag }), {
    onFulfilled() {},
    onRejected({ state }) {
      const key = `${state.peerName}:${state.seq}:${state.tag}`;
      if (!rejected.has(key)) rejected.init(key, harden([state.seq, state.tag]));
    },
  });

  const bump = (counts, key) => {
    const next = (counts.has(key) ? counts.get(key) : 0) + 1;
    if (counts.has(key)) counts.set(key, next);
    else counts.init(key, next);
    return next;
  };
  const log = (store, counts, peer) => {
    const entries = [];
    const count = counts.has(peer) ? counts.get(peer) : 0;
    for (let n = 1; n <= count; n += 1) entries.push(store.get(`${peer}:${n}`));
    return entries;
  };

  /** Sends `count` messages tagged `tag` to `peerName`, each with a result watched durably, or send-only. */
  const sendBatch = (peerName, count, tag, sendOnly) => {
    const party = peers.get(peerName);
    for (let i = 0; i < count; i += 1) {
      const seq = bump(sentCount, peerName);
      sent.init(`${peerName}:${seq}`, harden([seq, tag]));
      if (sendOnly) E.sendOnly(party).receive(name, seq, tag);
      else VatData.watchPromise(E(party).receive(name, seq, tag), watchSend(peerName, seq, tag));
    }
    return sentCount.get(peerName);
  };
  // Durable, so that a wake-up that comes after a restart (or an upgrade) of this vat still sends.
  const makeLaterSend = VatData.defineDurableKind(baggage.get('laterKind'), (peerName, count, tag, sendOnly) => ({ peerName, count, tag, sendOnly }), {
    wake({ state }) {
      later.set(state.tag, later.get(state.tag) + 1);
      sendBatch(state.peerName, state.count, state.tag, state.sendOnly);
    },
  });

  return Far('party', {
    addPeer(peerName, party) {
      if (peers.has(peerName)) peers.set(peerName, party);
      else peers.init(peerName, party);
    },
    /** Sends `count` messages tagged `tag` to `peerName`; the tag says which request of the driver made them. */
    send(peerName, count, tag) {
      return sendBatch(peerName, count, tag, false);
    },
    /** As `send`, but each message send-only (E.sendOnly): no result comes back, so none can be rejected. */
    sendOnly(peerName, count, tag) {
      return sendBatch(peerName, count, tag, true);
    },
    /** As `send` (or `sendOnly`), `delayMs` from now, when the timer service wakes a durable handler; the wake-up is counted. */
    sendLater(peerName, count, tag, delayMs, sendOnly) {
      later.init(tag, 0);
      return E(parameters.timer).wakeAfter(delayMs, makeLaterSend(peerName, count, tag, sendOnly));
    },
    /** Consumes one message: the n-th from `from` is recorded as [seq, tag]; the result is the seq. */
    receive(from, seq, tag) {
      const n = bump(receivedCount, from);
      received.init(`${from}:${n}`, harden([seq, tag]));
      return seq;
    },
    /** The peers it knows, and how many messages it sent to and consumed from each. */
    counts() {
      const result = { peers: [...peers.keys()], sent: {}, received: {} };
      for (const [peerName, count] of sentCount.entries()) result.sent[peerName] = count;
      for (const [from, count] of receivedCount.entries()) result.received[from] = count;
      return harden(result);
    },
    /** Everything this party sent and consumed, per peer, in order, the sends whose results were rejected, and how often each later send's wake-up came. */
    report() {
      const result = { name, sent: {}, received: {}, rejected: {}, later: {} };
      for (const [tag, wakes] of later.entries()) result.later[tag] = wakes;
      for (const peerName of peers.keys()) result.sent[peerName] = log(sent, sentCount, peerName);
      for (const from of receivedCount.keys()) result.received[from] = log(received, receivedCount, from);
      for (const [key, entry] of rejected.entries()) {
        const peerName = key.slice(0, key.indexOf(':'));
        result.rejected[peerName] = [...(result.rejected[peerName] ?? []), entry];
      }
      return harden(result);
    },
  });
}
