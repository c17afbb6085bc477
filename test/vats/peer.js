// A vat for cross-node tests: results, rejections, pipelining, third-party references.
import { E, Far } from '@endo/far';
import { makePromiseKit } from '@endo/promise-kit';

export function buildRootObject(_vatPowers, parameters, baggage) {
  if (!baggage.has('calls')) baggage.init('calls', 0);
  // The ocap URL service, when this vat is a node's bootstrap vat.
  if (parameters?.ocapUrls !== undefined && !baggage.has('ocapUrls')) baggage.init('ocapUrls', parameters.ocapUrls);
  const ocapUrls = () => baggage.get('ocapUrls');
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
  const root = Far('peer', {
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
    /** An ocap URL for this vat's root, from the node's ocap URL service. */
    publish() {
      return E(ocapUrls()).issue(root);
    },
    /** Redeems `url` through the service and calls `method` on what it names. */
    redeemAndCall(url, method, ...args) {
      return E(E(ocapUrls()).redeem(url))[method](...args);
    },
  });
  return root;
}
