import { makeLiveSlots } from '@agoric/swingset-liveslots';
import { importBundle } from '@endo/import-bundle';
import { makeGcTools } from './gcTools.js';
import { assertLiveslotsPatched } from './liveslotsPatch.js';
import type { VatConsole } from './vatConsole.js';
import { safeString } from './vatConsole.js';
import type { VatInstance } from './vatInstance.js';
import type { VatSyscall } from './types.js';

const syscallNames: readonly (keyof VatSyscall)[] = [
  'send',
  'subscribe',
  'resolve',
  'exit',
  'dropImports',
  'retireImports',
  'retireExports',
  'abandonExports',
  'callNow',
  'vatstoreGet',
  'vatstoreGetNextKey',
  'vatstoreSet',
  'vatstoreDelete',
];

/**
 * The delivery, frozen all the way down, for liveslots. Not `harden`: its
 * WeakSet of every hardened object made it about 11 µs a delivery (a
 * quarter of a crank's kernel time), and the delivery never reaches vat
 * code: liveslots, trusted code in the start compartment, reads it and
 * builds the vat's values afresh (it unserializes the capdata). Plain data
 * (arrays, records, strings, numbers, booleans, null) is all a delivery holds.
 */
function frozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.freeze(value);
    for (const item of Object.values(value)) frozen(item);
  }
  return value;
}

/**
 * Builds a vat: liveslots in the start compartment (it is trusted kernel-side
 * code), and the vat's bundle in a fresh SES Compartment that gets only
 * liveslots' vat globals, a console, and `assert`. Syscalls go to whatever
 * `currentSyscall()` returns; the kernel points it at the crank in progress.
 */
export function makeLiveslotsVatInstance(options: {
  vatId: string;
  bundleJson: string;
  currentSyscall: () => VatSyscall;
  vatConsole: VatConsole;
  forcedGcIntervalMs: number;
}): VatInstance {
  assertLiveslotsPatched();
  const { vatId, bundleJson, currentSyscall, vatConsole, forcedGcIntervalMs } = options;
  const forwarding = Object.fromEntries(
    syscallNames.map((syscallName) => [
      syscallName,
      (...args: unknown[]) => (currentSyscall()[syscallName] as (...a: unknown[]) => unknown)(...args),
    ]),
  );
  const buildVatNamespace = async (vatGlobals: object, inescapableGlobalProperties: object) =>
    importBundle(JSON.parse(bundleJson), {
      endowments: { ...vatGlobals, console: vatConsole, assert: globalThis.assert },
      inescapableGlobalProperties,
    });
  const liveslots = makeLiveSlots(
    harden(forwarding),
    vatId,
    harden({}),
    harden({}),
    makeGcTools({ forcedGcIntervalMs }),
    vatConsole,
    buildVatNamespace,
  );
  return {
    async deliver(delivery) {
      try {
        await liveslots.dispatch(frozen(delivery));
        return { ok: true };
      } catch (error) {
        return { ok: false, reason: error instanceof Error ? error.message : safeString(error) };
      }
    },
  };
}
