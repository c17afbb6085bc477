// A vat with a runaway method, for the crank deadline and quarantine tests.
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('pings')) baggage.init('pings', 0);
  return Far('spinner', {
    /** Never returns: an endless loop that never gives the thread back. */
    spin() {
      for (;;) {
        // runaway
      }
    },
    /** What a peer's counter vat sends (examples/node/counter.js): here, a poison message that loops for ever. */
    receive(_seq) {
      for (;;) {
        // runaway
      }
    },
    /** A durable count of pings: the vat's state, kept across its failure. */
    ping() {
      const pings = baggage.get('pings') + 1;
      baggage.set('pings', pings);
      return pings;
    },
  });
}
