import { passStyleOf } from '@endo/far';
import { importBundle } from '@endo/import-bundle';
import { makeGcTools, waitUntilQuiescent } from '../gcTools.js';
import type { DeliveryOutcome, VatCapData, VatDelivery, VatSyscall } from '../types.js';
import type { VatConsole } from '../vatConsole.js';
import { makeDurableData } from './durableData.js';
import { makeIdCounters } from './idCounters.js';
import { makePromiseWatchers } from './promiseWatchers.js';
import { makeSlotTable, messageOf } from './slotTable.js';

/** What liveslots' VatData has that a lean vat does not: each throws, naming the runtime that has it. */
const liveslotsOnly = [
  'defineKindMulti',
  'defineDurableKindMulti',
  'providePromiseWatcher',
  'makeScalarBigWeakMapStore',
  'makeScalarBigSetStore',
  'makeScalarBigWeakSetStore',
  'canBeDurable',
] as const;

/**
 * The lean vat runtime: the programming model of liveslots (`Far` objects,
 * `E()` with result promises, send-only, pipelining, passing references,
 * baggage, durable stores, durable kinds, `watchPromise`) without what makes
 * liveslots slow here: no virtual-object paging, no schema reads per
 * delivery, no interface guards. It speaks the same dispatch/syscall
 * interface to the kernel (types.ts). The vat's bundle runs in its own SES
 * Compartment with the same endowments as a liveslots vat's (its VatData,
 * a console, `assert`); this runtime, like liveslots, is trusted code in
 * the start compartment.
 *
 * Each delivery runs until the vat is quiet (its promise queue is empty);
 * then the state of durable objects it changed and the id counters are
 * written, in the crank. A crank that is rolled back takes this runtime's
 * memory with it: the kernel drops a vat whose crank aborted.
 */
export function makeLeanVatInstance(options: {
  bundleJson: string;
  currentSyscall: () => VatSyscall;
  vatConsole: VatConsole;
  forcedGcIntervalMs: number;
}) {
  const { bundleJson, currentSyscall: syscall, vatConsole, forcedGcIntervalMs } = options;
  const gcTools = makeGcTools({ forcedGcIntervalMs });
  const ids = makeIdCounters(syscall);
  const durable = makeDurableData({ syscall, ids, slots: () => slots });
  const slots = makeSlotTable({ syscall, ids, durable: () => durable.lookup });
  const watchers = makePromiseWatchers({ syscall, slots: () => slots, warn: vatConsole.warn });

  const unsupported = Object.fromEntries(
    liveslotsOnly.map((name) => [
      name,
      () => {
        throw new Error(`VatData.${name} is not in the lean vat runtime: the vat needs runtime "liveslots"`);
      },
    ]),
  );
  const VatData = harden({
    ...unsupported,
    makeScalarBigMapStore: (label?: unknown, storeOptions?: unknown) => durable.makeStore(label, storeOptions),
    makeScalarMapStore: (label?: unknown) => durable.makeStore(label, undefined),
    makeKindHandle: (tag: unknown) => durable.makeKindHandle(tag),
    defineDurableKind: (handle: unknown, init: unknown, behavior: unknown, kindOptions?: unknown) =>
      durable.defineDurableKind(handle, init, behavior, kindOptions),
    defineKind: (tag: unknown, init: unknown, behavior: unknown, kindOptions?: unknown) => durable.defineKind(tag, init, behavior, kindOptions),
    watchPromise: (promise: unknown, watcher: unknown, ...args: unknown[]) => watchers.watchPromise(promise, watcher, ...args),
  });

  const exitWith = (isFailure: boolean, info: unknown) => syscall().exit(isFailure, slots.kernelCodec.encode(harden(info)));
  const vatPowers = harden({
    exitVat: (completion: unknown) => exitWith(false, completion),
    exitVatWithFailure: (reason: unknown) => exitWith(true, reason),
  });

  async function startVat(parametersData: VatCapData): Promise<void> {
    ids.load();
    const parameters = slots.kernelCodec.decode(parametersData);
    const namespace = (await importBundle(JSON.parse(bundleJson) as never, {
      endowments: { VatData, console: vatConsole, assert: globalThis.assert },
    })) as { buildRootObject?: unknown };
    const { buildRootObject } = namespace;
    if (typeof buildRootObject !== 'function') throw new Error('the vat module does not export buildRootObject');
    const root: unknown = await buildRootObject(vatPowers, parameters, durable.baggage());
    if (typeof root !== 'object' || root === null || (passStyleOf as (value: unknown) => string)(root) !== 'remotable') {
      throw new Error('buildRootObject must return a Far object (its root)');
    }
    slots.registerRoot(root);
    durable.assertKindsDefined();
  }

  async function dispatch(delivery: VatDelivery): Promise<void> {
    switch (delivery[0]) {
      case 'startVat':
        await startVat(delivery[1]);
        break;
      case 'message':
        slots.deliverMessage(delivery[1], delivery[2]);
        break;
      case 'notify':
        for (const settlement of slots.notify(delivery[1])) watchers.settled(settlement);
        break;
      case 'dropExports':
        slots.dropExports(delivery[1]);
        break;
      case 'retireExports':
        slots.retireExports(delivery[1]);
        break;
      case 'retireImports':
        slots.retireImports(delivery[1]);
        break;
      case 'bringOutYourDead':
        await gcTools.gcAndFinalize();
        slots.releaseDeadImports();
        break;
      default:
        throw new Error(`unknown delivery ${JSON.stringify(delivery satisfies never)}`);
    }
  }

  return {
    async deliver(delivery: VatDelivery): Promise<DeliveryOutcome> {
      try {
        await dispatch(delivery);
        await waitUntilQuiescent();
        durable.flush();
        ids.flush();
        return { ok: true };
      } catch (error) {
        return { ok: false, reason: messageOf(error) };
      }
    },
  };
}
