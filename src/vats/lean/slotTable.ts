import { E, HandledPromise } from '@endo/eventual-send';
import { passStyleOf, Remotable } from '@endo/marshal';
import { isPromise } from '@endo/promise-kit';
import type { VatCapData, VatResolution, VatSyscall } from '../types.js';
import type { IdCounters } from './idCounters.js';
import { makeSmallcapsCodec } from './smallcaps.js';

/** A promise the kernel decides for this vat (an import, or a send's result), with what settles it. */
interface KernelPromise {
  promise: Promise<unknown>;
  /** The promise `E()` gave the vat for a send's result, which follows {@link promise}: the vat may pass or watch either. */
  returned: object | undefined;
  settle(rejected: boolean, value: unknown): void;
}

/** What the slot table needs of the vat's durable data (durableData.ts). */
export interface DurableLookup {
  /** The durable object, store or kind handle `vref` names, revived if need be. */
  revive(vref: string): object;
  /** Records that durable data holds import `vref`, so it is never dropped. */
  holdImport(vref: string): void;
  /** Whether durable data holds import `vref`. */
  holdsImport(vref: string): boolean;
}

const durableVrefPattern = /^o\+d[0-9]+\/[0-9]+$/;

export function isDurableVref(vref: string): boolean {
  return durableVrefPattern.test(vref);
}

/**
 * A lean vat's table of references: what it exports (its root, ephemeral
 * `Far` objects, promises it decides), what it imports (presences and
 * kernel promises), and the two marshals that use the table: one for what
 * goes to the kernel (anything passable) and one for durable data (only
 * what survives a restart: durable objects, durable stores, kind handles,
 * and imports, which the kernel keeps across restarts).
 *
 * Ephemeral exports are held strongly while the kernel can reach them
 * (until `dropExports`). Presences are held weakly: one the vat has let go
 * of and that no durable data holds is dropped and retired at the next
 * `bringOutYourDead`.
 */
export function makeSlotTable(options: { syscall: () => VatSyscall; ids: IdCounters; durable: () => DurableLookup }) {
  const { syscall, ids, durable } = options;
  const vrefOf = new WeakMap<object, string>();
  const exports = new Map<string, object>();
  const droppedExports = new Map<string, WeakRef<object>>();
  const presences = new Map<string, WeakRef<object>>();
  const deadImports = new Set<string>();
  const kernelPromises = new Map<string, KernelPromise>();
  /** Promises this vat decides that the kernel knows, until they settle. */
  const decidedPromises = new Map<string, Promise<unknown>>();
  const finalized = new FinalizationRegistry<string>((vref) => {
    if (presences.get(vref)?.deref() === undefined) deadImports.add(vref);
  });

  function queueMessage(target: string, method: unknown, args: unknown[], withResult: boolean, returned?: object): Promise<unknown> | undefined {
    const methargs = kernelCodec.encodeMethargs(method, args);
    if (!withResult) {
      syscall().send(target, methargs, null);
      return undefined;
    }
    const vpid = `p+${ids.next('promise', 1)}`;
    const record = kernelPromise(vpid);
    if (returned !== undefined) {
      record.returned = returned;
      vrefOf.set(returned, vpid);
    }
    syscall().send(target, methargs, vpid);
    syscall().subscribe(vpid);
    return record.promise;
  }

  function makePresence(vref: string, iface: string | undefined): object {
    const handler = {
      applyMethod: (_target: unknown, method: unknown, args: unknown[], returned: object) => queueMessage(vref, method, args, true, returned),
      applyMethodSendOnly: (_target: unknown, method: unknown, args: unknown[]) => void queueMessage(vref, method, args, false),
      applyFunction: (_target: unknown, args: unknown[], returned: object) => queueMessage(vref, undefined, args, true, returned),
      applyFunctionSendOnly: (_target: unknown, args: unknown[]) => void queueMessage(vref, undefined, args, false),
      get: (target: Record<PropertyKey, unknown>, property: PropertyKey) => target[property],
    };
    let presence: object | undefined;
    const promise = new HandledPromise((_resolve, _reject, resolveWithPresence) => {
      presence = Remotable(iface ?? 'Alleged: presence', undefined, resolveWithPresence(handler as never));
    });
    // HandledPromise keeps `promise` and hands it to whoever resolves the presence: hardened so it carries nothing between holders.
    harden(promise);
    if (presence === undefined) throw new Error('HandledPromise did not make a presence');
    harden(presence);
    vrefOf.set(presence, vref);
    presences.set(vref, new WeakRef(presence));
    deadImports.delete(vref);
    finalized.register(presence, vref);
    return presence;
  }

  /** A promise the kernel decides: sends to it are pipelined to the kernel until it settles. */
  function kernelPromise(vpid: string): KernelPromise {
    let active = true;
    let resolve!: (value: unknown) => void;
    let reject!: (reason: unknown) => void;
    const pipelined = (method: unknown, args: unknown[], withResult: boolean, returned?: object) => {
      // HandledPromise forwards to the resolution once settled: a send here after that would name a vpid the kernel forgot.
      if (!active) throw new Error(`pipelined send to ${vpid} after it settled`);
      return queueMessage(vpid, method, args, withResult, returned);
    };
    const promise = new HandledPromise(
      (res, rej) => {
        resolve = res;
        reject = rej;
      },
      {
        applyMethod: (_target: unknown, method: unknown, args: unknown[], returned: object) => pipelined(method, args, true, returned),
        applyMethodSendOnly: (_target: unknown, method: unknown, args: unknown[]) => void pipelined(method, args, false),
        get: (target: unknown, property: PropertyKey) => E.when(target, (value) => (value as Record<PropertyKey, unknown>)[property]),
      } as never,
    );
    const record: KernelPromise = {
      promise,
      returned: undefined,
      settle(rejected, value) {
        active = false;
        if (rejected) reject(value);
        else resolve(value);
      },
    };
    kernelPromises.set(vpid, record);
    vrefOf.set(promise, vpid);
    return record;
  }

  /** Tells the kernel how a promise this vat decides settled (a local promise it exported, or a message's result). */
  function resolveDecided(vpid: string, promise: Promise<unknown>, rejected: boolean, value: unknown): void {
    decidedPromises.delete(vpid);
    vrefOf.delete(promise);
    let data: VatCapData;
    try {
      // Hardened here, as liveslots does: a vat may answer with a fresh record.
      data = kernelCodec.encode(harden(value));
    } catch (error) {
      rejected = true;
      data = kernelCodec.encode(harden(Error(`the result could not be passed: ${messageOf(error)}`)));
    }
    syscall().resolve([[vpid, rejected, data]]);
  }

  function decide(vpid: string, promise: Promise<unknown>): void {
    decidedPromises.set(vpid, promise);
    vrefOf.set(promise, vpid);
    promise.then(
      (value) => resolveDecided(vpid, promise, false, value),
      (reason: unknown) => resolveDecided(vpid, promise, true, reason),
    );
  }

  function valToKernelSlot(value: object): string {
    const vref = vrefOf.get(value);
    if (vref !== undefined) {
      if (vref.startsWith('o+') && !isDurableVref(vref) && !exports.has(vref)) {
        // The kernel had dropped it; exporting it again makes it reachable again.
        exports.set(vref, value);
        droppedExports.delete(vref);
      }
      return vref;
    }
    if (isPromise(value)) {
      const vpid = `p+${ids.next('promise', 1)}`;
      decide(vpid, value);
      return vpid;
    }
    const exported = `o+${ids.next('export', 1)}`;
    vrefOf.set(value, exported);
    exports.set(exported, value);
    return exported;
  }

  function slotToVal(vref: string, iface: string | undefined): unknown {
    if (isDurableVref(vref)) return durable().revive(vref);
    if (vref.startsWith('o+')) {
      const value = exports.get(vref) ?? droppedExports.get(vref)?.deref();
      if (value === undefined) throw new Error(`the vat has no export ${vref}`);
      return value;
    }
    if (vref.startsWith('o-')) return presences.get(vref)?.deref() ?? makePresence(vref, iface);
    const known = decidedPromises.get(vref) ?? kernelPromises.get(vref)?.promise;
    if (known !== undefined) return known;
    const imported = kernelPromise(vref).promise;
    syscall().subscribe(vref);
    return imported;
  }

  function valToDurableSlot(value: object): string {
    const vref = vrefOf.get(value);
    if (vref !== undefined && isDurableVref(vref)) return vref;
    if (vref !== undefined && vref.startsWith('o-')) {
      durable().holdImport(vref);
      return vref;
    }
    throw new TypeError(
      `durable data cannot hold a ${passStyleOf(value as never)} that does not survive a restart: only durable objects, durable stores, kind handles and objects of other vats`,
    );
  }

  const kernelCodec = makeSmallcapsCodec({ valToSlot: valToKernelSlot, slotToVal });
  const durableCodec = makeSmallcapsCodec({ valToSlot: valToDurableSlot, slotToVal });

  return {
    kernelCodec,
    durableCodec,
    vrefOf: (value: object) => vrefOf.get(value),
    /** Names a durable object, store or kind handle by its vref. */
    registerDurable(value: object, vref: string): void {
      vrefOf.set(value, vref);
    },
    registerRoot(root: object): void {
      vrefOf.set(root, 'o+0');
      exports.set('o+0', root);
    },
    /** The kernel promise `vpid` names, if this incarnation knows it. */
    kernelPromiseOf(promise: Promise<unknown>): string | undefined {
      const vpid = vrefOf.get(promise);
      return vpid !== undefined && kernelPromises.has(vpid) ? vpid : undefined;
    },

    /** Delivers a message to an export; its result, if any, is this vat's to decide. */
    deliverMessage(targetVref: string, message: { methargs: VatCapData; result: string | null }): void {
      const target = slotToVal(targetVref, undefined) as Record<PropertyKey, unknown>;
      const [method, args] = kernelCodec.decode(message.methargs) as [PropertyKey, unknown[]];
      let outcome: Promise<unknown>;
      try {
        const callee = target[method];
        if (typeof callee !== 'function') throw new TypeError(`target ${targetVref} has no method ${String(method)}`);
        outcome = Promise.resolve(Reflect.apply(callee, target, args));
      } catch (error) {
        outcome = Promise.reject(error);
      }
      if (message.result === null) {
        // Nobody waits for a send-only message's outcome: a failure ends here.
        outcome.catch(() => {});
      } else {
        decide(message.result, outcome);
      }
    },

    /** Settles kernel promises; says which vpids it did not know (promises of an earlier incarnation). */
    notify(resolutions: VatResolution[]): { vpid: string; rejected: boolean; value: unknown; known: boolean }[] {
      // Every resolution is read before any settles: they may name each other.
      const read = resolutions.map(([vpid, rejected, data]) => ({ vpid, rejected, value: kernelCodec.decode(data) }));
      return read.map(({ vpid, rejected, value }) => {
        const record = kernelPromises.get(vpid);
        if (record !== undefined) {
          kernelPromises.delete(vpid);
          vrefOf.delete(record.promise);
          if (record.returned !== undefined) vrefOf.delete(record.returned);
          record.settle(rejected, value);
        }
        return { vpid, rejected, value, known: record !== undefined };
      });
    },

    dropExports(vrefs: string[]): void {
      for (const vref of vrefs) {
        const value = exports.get(vref);
        if (value === undefined || vref === 'o+0') continue;
        exports.delete(vref);
        droppedExports.set(vref, new WeakRef(value));
      }
    },
    retireExports(vrefs: string[]): void {
      for (const vref of vrefs) {
        const value = exports.get(vref) ?? droppedExports.get(vref)?.deref();
        if (value !== undefined && vref !== 'o+0') vrefOf.delete(value);
        exports.delete(vref);
        droppedExports.delete(vref);
      }
    },
    retireImports(vrefs: string[]): void {
      for (const vref of vrefs) {
        presences.delete(vref);
        deadImports.delete(vref);
      }
    },
    /** Drops and retires the imports the vat let go of that no durable data holds (after a GC). */
    releaseDeadImports(): void {
      const released = [...deadImports].filter((vref) => presences.get(vref)?.deref() === undefined && !durable().holdsImport(vref));
      deadImports.clear();
      if (released.length === 0) return;
      for (const vref of released) presences.delete(vref);
      syscall().dropImports(released);
      syscall().retireImports(released);
    },
  };
}

export type SlotTable = ReturnType<typeof makeSlotTable>;

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
