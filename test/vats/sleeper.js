// A vat given the timer service: it naps (delay), and wakes durable
// handlers once (wakeAt) or again and again (repeat), recording every wake
// durably, so that a test can count them across restarts.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters, baggage) {
  const { timer } = parameters;
  if (!baggage.has('wakes')) {
    // label -> the times its handler was woken at, in order
    baggage.init('wakes', VatData.makeScalarBigMapStore('wakes', { durable: true }));
    baggage.init('wakers', VatData.makeScalarBigMapStore('wakers', { durable: true }));
    baggage.init('wakerKind', VatData.makeKindHandle('Waker'));
  }
  const wakes = baggage.get('wakes');
  const wakers = baggage.get('wakers');
  const makeWaker = VatData.defineDurableKind(baggage.get('wakerKind'), (label) => ({ label }), {
    wake({ state }, time) {
      const { label } = state;
      if (wakes.has(label)) wakes.set(label, harden([...wakes.get(label), time]));
      else wakes.init(label, harden([time]));
    },
  });
  const wakerFor = (label) => {
    if (!wakers.has(label)) wakers.init(label, makeWaker(label));
    return wakers.get(label);
  };
  return Far('sleeper', {
    now: () => E(timer).now(),
    nap: (ms) => E(timer).delay(ms),
    wakeAt: (time, label) => E(timer).wakeAt(time, wakerFor(label)),
    wakeAfter: (delayMs, label) => E(timer).wakeAfter(delayMs, wakerFor(label)),
    repeat: (delayMs, intervalMs, label) => E(timer).repeat(delayMs, intervalMs, wakerFor(label)),
    cancel: (label) => E(timer).cancel(wakerFor(label)),
    wakes: (label) => (wakes.has(label) ? wakes.get(label) : harden([])),
  });
}
