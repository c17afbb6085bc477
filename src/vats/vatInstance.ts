import { makeLiveSlots } from '@agoric/swingset-liveslots';
import { importBundle } from '@endo/import-bundle';
import type { Logger } from '../util/logger.js';
import { makeGcTools } from './gcTools.js';
import { assertLiveslotsPatched } from './liveslotsPatch.js';
import type { DeliveryOutcome, VatDelivery, VatSyscall } from './types.js';


/** A running vat: its liveslots and its compartment, inside this process. */
export interface VatInstance {
  deliver(delivery: VatDelivery): Promise<DeliveryOutcome>;
}

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

function makeVatConsole(logger: Logger, vat: string) {
  const line =
    (level: keyof Logger) =>
    (...args: unknown[]) =>
      logger[level]({ vat }, args.map((arg) => (typeof arg === 'string' ? arg : safeString(arg))).join(' '));
  return harden({ log: line('info'), info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') });
}

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

function safeString(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Builds a vat: liveslots in the start compartment (it is trusted kernel-side
 * code), and the vat's bundle in a fresh SES Compartment that gets only
 * liveslots' vat globals, a console, and `assert`. Syscalls go to whatever
 * `currentSyscall()` returns; the kernel points it at the crank in progress.
 */
export function makeVatInstance(options: {
  vatId: string;
  name: string;
  bundleJson: string;
  currentSyscall: () => VatSyscall;
  logger: Logger;
  /** At most one forced engine GC per this many milliseconds (0: every reap). */
  forcedGcIntervalMs: number;
}): VatInstance {
  assertLiveslotsPatched();
  const { vatId, name, bundleJson, currentSyscall, logger, forcedGcIntervalMs } = options;
  const forwarding = Object.fromEntries(
    syscallNames.map((syscallName) => [
      syscallName,
      (...args: unknown[]) => (currentSyscall()[syscallName] as (...a: unknown[]) => unknown)(...args),
    ]),
  );
  const vatConsole = makeVatConsole(logger, name);
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
