// A receiving vat: records every message it consumes, once, in a durable log.
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('count')) {
    baggage.init('count', 0);
    baggage.init('log', VatData.makeScalarBigMapStore('log', { durable: true }));
  }
  const log = baggage.get('log');
  return Far('recorder', {
    /** Consumes message `seq`: the durable count goes up by one and the log gets one entry. */
    receive(seq) {
      const count = baggage.get('count') + 1;
      baggage.set('count', count);
      log.init(count, seq);
      return count;
    },
    count() {
      return baggage.get('count');
    },
    /** The seqs consumed, in consumption order. */
    entries() {
      return [...log.values()];
    },
  });
}
