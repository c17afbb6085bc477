// A party in the fault-injection workload: it sends numbered, tagged messages
// to the parties on other nodes and records, durably, every message it sends,
// every message it consumes, and every send whose result was rejected. The
// checker compares the records: what a committed crank sent must be consumed
// exactly once, in order, unchanged, or its rejection must have reached it.
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
  }
  const name = baggage.get('name');
  const peers = baggage.get('peers');
  const sentCount = baggage.get('sentCount');
  const receivedCount = baggage.get('receivedCount');
  const sent = baggage.get('sent');
  const received = baggage.get('received');
  const rejected = baggage.get('rejected');
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

  return Far('party', {
    addPeer(peerName, party) {
      if (peers.has(peerName)) peers.set(peerName, party);
      else peers.init(peerName, party);
    },
    /** Sends `count` messages tagged `tag` to `peerName`; the tag says which request of the driver made them. */
    send(peerName, count, tag) {
      const party = peers.get(peerName);
      for (let i = 0; i < count; i += 1) {
        const seq = bump(sentCount, peerName);
        sent.init(`${peerName}:${seq}`, harden([seq, tag]));
        VatData.watchPromise(E(party).receive(name, seq, tag), watchSend(peerName, seq, tag));
      }
      return sentCount.get(peerName);
    },
    /** As `send`, but each message send-only (E.sendOnly): no result comes back, so none can be rejected. */
    sendOnly(peerName, count, tag) {
      const party = peers.get(peerName);
      for (let i = 0; i < count; i += 1) {
        const seq = bump(sentCount, peerName);
        sent.init(`${peerName}:${seq}`, harden([seq, tag]));
        E.sendOnly(party).receive(name, seq, tag);
      }
      return sentCount.get(peerName);
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
    /** Everything this party sent and consumed, per peer, in order, and the sends whose results were rejected. */
    report() {
      const result = { name, sent: {}, received: {}, rejected: {} };
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
