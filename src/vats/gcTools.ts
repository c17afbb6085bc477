import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * The platform tools liveslots needs (its `gcTools`), made in the start
 * compartment where timers and the engine's GC exist.
 */

/** Resolves once the promise queue is empty: a vat has lost agency. */
export function waitUntilQuiescent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

let engineGc: (() => void) | undefined;
let lastForcedGcAt = Number.NEGATIVE_INFINITY;

function forceEngineGc(): void {
  if (engineGc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      engineGc = exposed;
    } else {
      // The same switch `node --expose-gc` flips; SES does not pass `gc`
      // into compartments, so vats never see it.
      v8.setFlagsFromString('--expose_gc');
      engineGc = vm.runInNewContext('gc') as () => void;
    }
  }
  engineGc();
}

/**
 * liveslots' `gcAndFinalize` for bringOutYourDead. A forced full GC costs
 * tens of milliseconds under load, and all vats share one engine, so it runs
 * at most once per `forcedGcIntervalMs` for the whole process; in between,
 * a reap collects what the engine's own GCs have already finalized. Vats are
 * not replayed here, so GC timing need not be deterministic.
 */
function makeGcAndFinalize(forcedGcIntervalMs: number) {
  return async (): Promise<void> => {
    const now = performance.now();
    if (now - lastForcedGcAt >= forcedGcIntervalMs) {
      lastForcedGcAt = now;
      forceEngineGc();
    }
    await waitUntilQuiescent();
    await waitUntilQuiescent();
  };
}

type Thunk<T> = () => T;

/** Vats are not metered here: a meter control that only keeps liveslots' bookkeeping. */
function makeMeterControl() {
  let disabled = 0;
  const runWithoutMetering = <T>(thunk: Thunk<T>): T => {
    disabled += 1;
    try {
      return thunk();
    } finally {
      disabled -= 1;
    }
  };
  return harden({
    isMeteringDisabled: () => disabled > 0,
    assertIsMetered: () => {},
    assertNotMetered: () => {},
    runWithoutMetering,
    runWithoutMeteringAsync: async <T>(thunk: Thunk<Promise<T>>): Promise<T> => {
      disabled += 1;
      try {
        return await thunk();
      } finally {
        disabled -= 1;
      }
    },
    unmetered:
      <A extends unknown[], R>(f: (...args: A) => R) =>
      (...args: A): R =>
        runWithoutMetering(() => f(...args)),
  });
}

export function makeGcTools(options: { forcedGcIntervalMs: number }) {
  return harden({
    WeakRef,
    FinalizationRegistry,
    waitUntilQuiescent,
    gcAndFinalize: makeGcAndFinalize(options.forcedGcIntervalMs),
    meterControl: makeMeterControl(),
  });
}
