// A vat with durable state of every kind liveslots offers, for restart tests.
import { E, Far } from '@endo/far';
import { makePromiseKit } from '@endo/promise-kit';

function provide(baggage, key, make) {
  if (!baggage.has(key)) baggage.init(key, make());
  return baggage.get(key);
}

export function buildRootObject(_vatPowers, _parameters, baggage) {
  const counters = provide(baggage, 'counters', () => VatData.makeScalarBigMapStore('counters', { durable: true }));
  const outcomes = provide(baggage, 'outcomes', () => VatData.makeScalarBigMapStore('outcomes', { durable: true }));
  const makeCounter = VatData.defineDurableKind(
    provide(baggage, 'counterKind', () => VatData.makeKindHandle('Counter')),
    (name) => ({ name, value: 0 }),
    {
      increment({ state }) {
        state.value += 1;
        return state.value;
      },
      value({ state }) {
        return state.value;
      },
    },
  );
  const makeWatcher = VatData.defineDurableKind(
    provide(baggage, 'watcherKind', () => VatData.makeKindHandle('Watcher')),
    (label) => ({ label }),
    {
      onFulfilled({ state }, value) {
        outcomes.init(state.label, `fulfilled: ${value}`);
      },
      onRejected({ state }, reason) {
        outcomes.init(state.label, `rejected: ${reason.message}`);
      },
    },
  );
  let heldEphemeral;
  const root = Far('durable', {
    makeCounter(name) {
      const counter = makeCounter(name);
      counters.init(name, counter);
      return counter;
    },
    counter(name) {
      return counters.get(name);
    },
    makeEphemeral() {
      return Far('ephemeral', { hello: () => 'hello' });
    },
    /** Makes a counter only after a round trip to `peer`, so its result stays unresolved for a while. */
    async makeCounterAfter(peer, name) {
      await E(peer).outcomes();
      return root.makeCounter(name);
    },
    /** Sends to the result of a send before it resolves (promise pipelining through the kernel). */
    pipelineIncrement(other, name) {
      return E(E(other).makeCounterAfter(root, name)).increment();
    },
    /** Sends to a promise that will be fulfilled with plain data, not an object. */
    sendToData(other) {
      return E(E(other).outcomes()).increment();
    },
    /** Imports an ephemeral object of `source` and keeps it in the heap only. */
    async holdEphemeralOf(source) {
      heldEphemeral = await E(source).makeEphemeral();
      return 'held';
    },
    /** Lets go of it: liveslots reports the drop at the next reap. */
    releaseEphemeral() {
      heldEphemeral = undefined;
    },
    /** A promise decided by this vat's heap: it cannot survive a restart. */
    hold() {
      return makePromiseKit().promise;
    },
    /** Sends `target~.receive(seq)` and watches the result durably under `label`. */
    watch(target, seq, label) {
      VatData.watchPromise(E(target).receive(seq), makeWatcher(label));
    },
    /** Asks `other` for a promise it decides in its heap, and watches it durably under `label`. */
    watchHeld(other, label) {
      VatData.watchPromise(E(other).hold(), makeWatcher(label));
    },
    outcomes() {
      return Object.fromEntries(outcomes.entries());
    },
  });
  return root;
}
