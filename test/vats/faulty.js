// A vat that misbehaves on request, for the kernel's failure paths.
import { E, Far } from '@endo/far';
import { makePromiseKit } from '@endo/promise-kit';

export function buildRootObject(vatPowers, _parameters, baggage) {
  if (!baggage.has('writes')) {
    baggage.init('writes', 0);
  }
  let held;
  let remembered;
  return Far('faulty', {
    throwError(message) {
      throw Error(message);
    },
    /** A promise this vat decides and resolves only in `workThenFail`. */
    hold() {
      held = makePromiseKit();
      return held.promise;
    },
    /** Writes, sends, subscribes and resolves, then fails the whole delivery. */
    workThenFail(other) {
      baggage.set('writes', baggage.get('writes') + 1);
      void E(other).receive(1);
      void E(other).receive(2).then(() => {});
      held?.resolve('resolved by a crank that failed');
      vatPowers.exitVatWithFailure(Error('failing on purpose'));
    },
    writes() {
      return baggage.get('writes');
    },
    /** Keeps `target` in the heap, for `sendToRemembered`. */
    remember(target) {
      remembered = target;
    },
    /** Sends through a reference the vat already holds (no new import in this delivery). */
    sendToRemembered(seq) {
      return E(remembered).receive(seq);
    },
    exit(reason) {
      vatPowers.exitVat(reason);
      return 'exiting';
    },
  });
}
