// An example bootstrap vat for `ken-node start` (see docs/operations.md):
// it keeps the peers the node introduces, sends them numbered messages when
// asked (POST /call send), and counts, durably, the messages it receives.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('received')) {
    baggage.init('received', 0);
    // peer name -> presence of that peer's bootstrap root
    baggage.init('peers', VatData.makeScalarBigMapStore('peers', { durable: true }));
    // peer name -> how many messages were sent to it
    baggage.init('sent', VatData.makeScalarBigMapStore('sent', { durable: true }));
  }
  const peers = baggage.get('peers');
  const sent = baggage.get('sent');

  return Far('counter', {
    /** Part of the bootstrap contract: the node asks before it redeems a configured peer's URL. */
    hasPeer(name) {
      return peers.has(name);
    },
    /** Part of the bootstrap contract: a configured peer, redeemed. */
    addPeer(name, presence) {
      if (peers.has(name)) peers.set(name, presence);
      else peers.init(name, presence);
    },
    /** Sends `count` numbered messages to the peer called `name`; returns how many were sent to it so far. */
    send(name, count) {
      if (!peers.has(name)) throw Error(`no peer named ${name} (known: ${[...peers.keys()].join(', ') || 'none'})`);
      const peer = peers.get(name);
      let total = sent.has(name) ? sent.get(name) : 0;
      for (let i = 0; i < count; i += 1) {
        total += 1;
        void E(peer).receive(total);
      }
      if (sent.has(name)) sent.set(name, total);
      else sent.init(name, total);
      return total;
    },
    /** Consumes one message: the durable count goes up by one. */
    receive(_seq) {
      const received = baggage.get('received') + 1;
      baggage.set('received', received);
      return received;
    },
    /** The peers it knows, what it sent to each, and how many messages it received. */
    counts() {
      const result = { peers: [...peers.keys()], sent: {}, received: baggage.get('received') };
      for (const [name, total] of sent.entries()) result.sent[name] = total;
      return harden(result);
    },
  });
}
