// A vat for cross-node tests: results, rejections, pipelining, third-party references.
import { E, Far } from '@endo/far';
import { makePromiseKit } from '@endo/promise-kit';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('calls')) baggage.init('calls', 0);
  const count = () => {
    baggage.set('calls', baggage.get('calls') + 1);
    return baggage.get('calls');
  };
  const makeCounter = (label) => {
    let value = 0;
    return Far('counter', {
      increment: () => {
        value += 1;
        return `${label}:${value}`;
      },
    });
  };
  return Far('peer', {
    echo(value) {
      count();
      return value;
    },
    fail(message) {
      throw Error(message);
    },
    calls() {
      return baggage.get('calls');
    },
    makeCounter(label) {
      return makeCounter(label);
    },
    /** A promise this vat decides and never settles. */
    hold() {
      return makePromiseKit().promise;
    },
    /** Sends to the result of a remote send before it resolves. */
    pipeline(remote, label) {
      return E(E(remote).makeCounter(label)).increment();
    },
    /** Calls `method` on `target` (any reference, local or remote). */
    call(target, method, ...args) {
      return E(target)[method](...args);
    },
    /** Gives `gift` to `recipient`, which calls it: a reference to a third party. */
    introduce(recipient, gift) {
      return E(recipient).call(gift, 'increment');
    },
  });
}
