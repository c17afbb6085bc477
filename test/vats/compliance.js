// The vat of the runtime compliance suite (src/vats/runtimeCompliance.test.ts):
// one source, run on every vat runtime, each method one thing the
// programming model promises.
import { E, Far } from '@endo/far';
import { makePromiseKit } from '@endo/promise-kit';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  const recorded = [];
  const makeThing = (label) =>
    Far('thing', {
      label: () => label,
      fail: () => {
        throw Error(`thrown by ${label}`);
      },
    });
  const root = Far('compliance', {
    echo: (value) => value,
    fail(message) {
      throw Error(message);
    },
    async failLater(message) {
      await null;
      throw Error(message);
    },
    makeThing,
    /** A result that is itself another vat's answer. */
    relay: (other, value) => E(other).echo(value),
    async catchFrom(other, message) {
      try {
        await E(other).fail(message);
        return 'not rejected';
      } catch (error) {
        return `caught: ${error.message}`;
      }
    },
    /** Asks `other` to use `thing`, an object of a third vat. */
    introduce: (other, thing) => E(other).labelOf(thing),
    labelOf: (thing) => E(thing).label(),
    /** Sends to the result of a send before it settles. */
    pipeline: (other, label) => E(E(other).makeThing(label)).label(),
    /** `count` send-only messages: nothing comes back. */
    sendOnlyTo(other, count) {
      for (let i = 1; i <= count; i += 1) E.sendOnly(other).record(i);
      return count;
    },
    record(value) {
      recorded.push(value);
    },
    /** What the example ledger tells its watcher. */
    transferred(from, to, amount) {
      recorded.push(harden([from, to, amount]));
    },
    recorded: () => harden([...recorded]),
    /** Passes a promise this vat decides, settled after it was sent. */
    passPromise(other) {
      const kit = makePromiseKit();
      const answer = E(other).awaitIt(kit.promise);
      kit.resolve('later');
      return answer;
    },
    async awaitIt(promise) {
      return `got ${await promise}`;
    },
    /** An object of this vat comes back from another as the same object. */
    async sameBack(other) {
      const thing = makeThing('mine');
      return (await E(other).echo(thing)) === thing;
    },
    /** A presence of another vat, passed around, is the same presence. */
    async samePresence(other) {
      const thing = await E(other).makeThing('theirs');
      return (await E(other).echo(thing)) === thing;
    },
    /** Durable state: a value in baggage, read back after a restart. */
    remember(key, value) {
      if (baggage.has(key)) baggage.set(key, value);
      else baggage.init(key, value);
    },
    recall: (key) => (baggage.has(key) ? baggage.get(key) : undefined),
    /** Keeps a presence durably. */
    keep(key, presence) {
      baggage.init(key, presence);
    },
    callKept: (key) => E(baggage.get(key)).label(),
    /** Ephemeral objects cannot be kept durably; the vat hears so. */
    keepEphemeral() {
      try {
        baggage.init('ephemeral', makeThing('gone'));
        return 'kept';
      } catch (error) {
        return `refused: ${error.message}`;
      }
    },
  });
  return root;
}
