// Sends numbered messages as fast as it is asked, and keeps count of how
// their results settle (in the heap: a test reads it before any restart).
import { E, Far } from '@endo/far';

export function buildRootObject() {
  let next = 1;
  let fulfilled = 0;
  let refused = 0;
  const reasons = new Set();
  return Far('flooder', {
    /** Sends `count` more numbered messages to `target`; returns the last number sent. */
    flood(target, count) {
      for (let i = 0; i < count; i += 1) {
        E(target)
          .receive(next)
          .then(
            () => {
              fulfilled += 1;
            },
            (error) => {
              refused += 1;
              reasons.add(error.message);
            },
          );
        next += 1;
      }
      return next - 1;
    },
    tally() {
      return harden({ fulfilled, refused, reasons: [...reasons] });
    },
  });
}
