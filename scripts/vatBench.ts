import { performance } from 'node:perf_hooks';
import { E, HandledPromise } from '@endo/eventual-send';
import { makeMarshal } from '@endo/marshal';
import { check, type Result } from './benchSupport.js';

/** Calls of each loop below, after as many again to warm it up. */
const calls = 20_000;

/** Microseconds a call of `body`, over {@link calls} calls after a warm-up of as many. */
function timeCalls(body: (call: number) => void): number {
  for (let call = 0; call < calls; call += 1) body(call);
  const started = performance.now();
  for (let call = 0; call < calls; call += 1) body(call);
  return ((performance.now() - started) * 1000) / calls;
}

/**
 * What the Endo packages cost a vat per message, in a loop under lockdown
 * (docs/benchmarks.md, "harden's bookkeeping"): SES's `harden` of a fresh
 * two-element array against `Object.freeze` of one (the same immutability
 * for it: its prototype is a hardened intrinsic; harden also records it in
 * a WeakSet); @endo/marshal's `fromCapData` of a message's methargs, which
 * liveslots runs on every delivery; and the synchronous part of an
 * eventual send, `E(presence).m(n)`, on a presence whose handler answers
 * with a promise of its own, as both vat runtimes' handlers do.
 */
export async function measureVatCosts(emit: (result: Result) => void): Promise<void> {
  const hardenUs = timeCalls((call) => harden([call, 'x']));
  emit({ name: 'vats.harden_us', value: hardenUs, unit: 'us', note: `SES harden of a fresh [number, string], ${calls} calls` });
  const freezeUs = timeCalls((call) => Object.freeze([call, 'x']));
  emit({ name: 'vats.freeze_us', value: freezeUs, unit: 'us', note: `Object.freeze of a fresh [number, string], ${calls} calls` });

  const marshal = makeMarshal(undefined, undefined, { serializeBodyFormat: 'smallcaps' });
  let decoded: unknown;
  const decodeUs = timeCalls((call) => {
    decoded = marshal.fromCapData({ body: `#["receive",[${call}]]`, slots: [] });
  });
  check(JSON.stringify(decoded) === `["receive",[${calls - 1}]]` && Object.isFrozen(decoded), `fromCapData decoded ${JSON.stringify(decoded)}`);
  emit({ name: 'vats.marshal.decode_us', value: decodeUs, unit: 'us', note: `@endo/marshal fromCapData of ["receive",[n]] (smallcaps), ${calls} calls` });

  let handled = 0;
  const handler = {
    applyMethod: (_target: unknown, _method: unknown, args: unknown[]) => {
      handled += 1;
      return new HandledPromise((resolve) => resolve(args[0]));
    },
  };
  let presence: object | undefined;
  harden(
    new HandledPromise((_resolve, _reject, resolveWithPresence) => {
      presence = resolveWithPresence(handler);
    }),
  );
  check(presence !== undefined, 'HandledPromise made no presence');
  const target = presence as { receive: (n: number) => Promise<unknown> };
  // In batches of a hundred, each answered before the next, as a vat's deliveries send them: a loop of thousands unanswered times the GC of their promises.
  const batch = 100;
  let sendMs = 0;
  for (let round = 0; round < (2 * calls) / batch; round += 1) {
    const started = performance.now();
    let last: Promise<unknown> | undefined;
    for (let call = 0; call < batch; call += 1) last = E(target).receive(call);
    // The first half warms up.
    if (round >= calls / batch) sendMs += performance.now() - started;
    check((await last) === batch - 1, 'an eventual send was answered wrong');
  }
  check(handled === 2 * calls, `eventual sends: ${handled} of ${2 * calls} handled`);
  emit({ name: 'vats.eventual_send_us', value: (sendMs * 1000) / calls, unit: 'us', note: `E(presence).receive(n), its synchronous part, ${calls} calls in batches of ${batch}` });
}
