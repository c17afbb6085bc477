// A vat that reports whether what it can reach is hardened: what deliveries
// bring it, what E() makes for it, what it sends, what it returns and what its
// durable collections give back. The patches in patches/ take `harden` off
// temporaries that never reach vat code; this vat checks that everything
// that does reach it is still frozen all the way down
// (src/vats/hardenedForVats.test.ts).
import { E, Far } from '@endo/far';

/** Frozen all the way down: the value, its prototype chain, and every property's value or accessors. */
const deepFrozen = (value, seen = new Set()) => {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return true;
  if (seen.has(value)) return true;
  seen.add(value);
  if (!Object.isFrozen(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== null && !deepFrozen(proto, seen)) return false;
  for (const key of Reflect.ownKeys(value)) {
    const desc = Object.getOwnPropertyDescriptor(value, key);
    if ('value' in desc) {
      if (!deepFrozen(desc.value, seen)) return false;
    } else if (!deepFrozen(desc.get, seen) || !deepFrozen(desc.set, seen)) {
      return false;
    }
  }
  return true;
};

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('things')) {
    baggage.init('things', VatData.makeScalarBigMapStore('things', { durable: true }));
  }
  const things = baggage.get('things');
  let returned;
  let sentOnly;
  return Far('hardening', {
    /** What a delivery brings: its arguments, with a presence and a promise among them. */
    inspectArguments(record, presence, promise) {
      return {
        record: deepFrozen(record),
        presence: deepFrozen(presence),
        promise: deepFrozen(promise),
      };
    },
    /** What E() makes and what a send does to its argument; `target` has `echo`. */
    async inspectSend(target) {
      const argument = { list: [1, { deep: 'yes' }], inner: { x: 'y' } };
      const proxy = E(target);
      const method = proxy.echo;
      const resultPromise = proxy.echo(argument);
      const report = {
        proxyIsFrozen: Object.isFrozen(proxy),
        method: deepFrozen(method),
        resultPromise: deepFrozen(resultPromise),
        argument: deepFrozen(argument),
      };
      const result = await resultPromise;
      sentOnly = { n: [2] };
      E.sendOnly(target).echo(sentOnly);
      return { ...report, sentOnly: deepFrozen(sentOnly), result: deepFrozen(result), resultValue: result };
    },
    /** A send through E() to an object of this vat itself, and E.get of a local record. */
    async inspectLocal() {
      const local = Far('local', { twice: (x) => ({ twice: [x, x] }) });
      const viaE = await E(local).twice(3);
      const got = await E.get(harden({ field: { v: 1 } })).field;
      return { viaE: deepFrozen(viaE), viaEValue: viaE, got: deepFrozen(got), gotValue: got };
    },
    /** Has `target` inspect arguments that this vat sends it: a record, a presence (of this vat's root) and a promise. */
    sendArguments(target, self) {
      const unresolved = new Promise(() => {});
      return E(target).inspectArguments({ a: [1, { b: 'c' }], d: { e: [] } }, self, unresolved);
    },
    echo(value) {
      return value;
    },
    /** Returns a fresh record, kept here: `returnedIsHardened` says in a later delivery whether it was hardened. */
    makeAndReturn() {
      returned = { made: [1, { two: 2 }] };
      return returned;
    },
    returnedIsHardened() {
      return deepFrozen(returned) && deepFrozen(sentOnly);
    },
    /** Writes `value` under `key` in a durable collection. */
    put(key, value) {
      if (things.has(key)) things.set(key, value);
      else things.init(key, value);
      return things.getSize();
    },
    /** What the durable collection gives back, in a later delivery. */
    inspectStored(key) {
      const value = things.get(key);
      return { frozen: deepFrozen(value), value };
    },
    /** A key the collection refuses (not a passable key): its error message. */
    refusedKey() {
      try {
        things.get(harden({ not: 'a scalar' }));
        return 'accepted';
      } catch (error) {
        return error.message;
      }
    },
  });
}
