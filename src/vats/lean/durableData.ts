import { Far, passStyleOf } from '@endo/far';
import type { VatCapData, VatSyscall } from '../types.js';
import type { IdCounters } from './idCounters.js';
import type { DurableLookup, SlotTable } from './slotTable.js';
import { decodeStoreKey, encodeStoreKey } from './storeKeys.js';

/**
 * A lean vat's durable data, in its vatstore (the kernel's, so every write
 * is in the crank's transaction):
 *
 * - `c.ID` the label of durable map store ID; `c.ID.KEY` its entries
 *   (capdata, through the durable marshal). Store 0 is the baggage.
 * - `k.ID` the tag of durable kind ID (a kind handle).
 * - `s.VREF` the state of durable object VREF (`o+dKIND/N`).
 * - `r.VREF` set once durable data held import VREF: it is never dropped.
 *
 * Vrefs: durable stores are `o+d1/ID`, kind handles `o+d2/ID`, durable
 * objects `o+dKIND/N` with KIND from 10. Reads come from memory once read;
 * store writes go to the vatstore at once, a durable object's state at the
 * end of the delivery that changed it. Nothing is paged out or collected:
 * a durable object lives as long as its vat (docs/writing-vats.md).
 */

const storeKind = 1;
const kindHandleKind = 2;
const firstUserKind = 10;
/** Entries a durable store keeps in memory; beyond that the oldest read are read again from the vatstore when asked for. */
const storeCacheEntries = 1_000;

interface KindDefinition {
  tag: string;
  durable: boolean;
  init: (...args: unknown[]) => Record<string, unknown>;
  behavior: Record<string, (context: unknown, ...args: unknown[]) => unknown>;
  finish: ((context: unknown) => void) | undefined;
}

/** A durable object's state in memory, and whether the delivery changed it. */
interface InstanceState {
  vref: string;
  values: Record<string, unknown>;
}

const absent: unique symbol = Symbol('absent');
type Absent = typeof absent;

export function makeDurableData(options: { syscall: () => VatSyscall; ids: IdCounters; slots: () => SlotTable }) {
  const { syscall, ids, slots } = options;
  const kinds = new Map<number, KindDefinition>();
  const revived = new Map<string, WeakRef<object>>();
  const dirty = new Set<InstanceState>();
  const heldImports = new Set<string>();

  const toData = (value: unknown) => JSON.stringify(slots().durableCodec.encode(value));
  const fromData = (text: string): unknown => slots().durableCodec.decode(JSON.parse(text) as VatCapData);

  function remember<T extends object>(value: T, vref: string): T {
    slots().registerDurable(value, vref);
    revived.set(vref, new WeakRef(value));
    return value;
  }

  /** The keys of the vatstore under `prefix`, in order. */
  function* vatstoreKeys(prefix: string): Generator<string> {
    let key = syscall().vatstoreGetNextKey(prefix);
    while (key !== undefined && key.startsWith(prefix)) {
      yield key;
      key = syscall().vatstoreGetNextKey(key);
    }
  }

  function storeMethods(label: string, entries: {
    read(encoded: string): { value: unknown } | Absent;
    write(encoded: string, value: unknown): void;
    remove(encoded: string): void;
    encodedKeys(): Iterable<string>;
  }) {
    const entryOf = (key: unknown): { encoded: string; entry: { value: unknown } | Absent } => {
      const encoded = encodeStoreKey(key);
      return { encoded, entry: entries.read(encoded) };
    };
    const missing = (key: unknown) => new Error(`key ${JSON.stringify(key)} not found in ${label}`);
    return {
      has: (key: unknown) => entryOf(key).entry !== absent,
      get(key: unknown) {
        const { entry } = entryOf(key);
        if (entry === absent) throw missing(key);
        return entry.value;
      },
      init(key: unknown, value: unknown) {
        const { encoded, entry } = entryOf(key);
        if (entry !== absent) throw new Error(`key ${JSON.stringify(key)} already registered in ${label}`);
        entries.write(encoded, value);
      },
      set(key: unknown, value: unknown) {
        const { encoded, entry } = entryOf(key);
        if (entry === absent) throw missing(key);
        entries.write(encoded, value);
      },
      delete(key: unknown) {
        const { encoded, entry } = entryOf(key);
        if (entry === absent) throw missing(key);
        entries.remove(encoded);
      },
      *keys() {
        for (const encoded of entries.encodedKeys()) yield decodeStoreKey(encoded);
      },
      *values() {
        for (const encoded of entries.encodedKeys()) yield (entries.read(encoded) as { value: unknown }).value;
      },
      *entries() {
        for (const encoded of entries.encodedKeys()) yield harden([decodeStoreKey(encoded), (entries.read(encoded) as { value: unknown }).value]);
      },
      getSize() {
        let size = 0;
        for (const _ of entries.encodedKeys()) size += 1;
        return size;
      },
    };
  }

  function durableStore(id: number, label: string): object {
    const prefix = `c.${id}.`;
    const cache = new Map<string, { value: unknown } | Absent>();
    const cached = (encoded: string, entry: { value: unknown } | Absent) => {
      cache.delete(encoded);
      cache.set(encoded, entry);
      if (cache.size > storeCacheEntries) cache.delete(cache.keys().next().value as string);
      return entry;
    };
    const store = Far('mapStore', storeMethods(label, {
      read(encoded) {
        const hit = cache.get(encoded);
        if (hit !== undefined) return hit;
        const text = syscall().vatstoreGet(prefix + encoded);
        return cached(encoded, text === undefined ? absent : { value: fromData(text) });
      },
      write(encoded, value) {
        syscall().vatstoreSet(prefix + encoded, toData(value));
        cached(encoded, { value });
      },
      remove(encoded) {
        syscall().vatstoreDelete(prefix + encoded);
        cached(encoded, absent);
      },
      *encodedKeys() {
        for (const key of vatstoreKeys(prefix)) yield key.slice(prefix.length);
      },
    }));
    return remember(store, `o+d${storeKind}/${id}`);
  }

  function ephemeralStore(label: string): object {
    const map = new Map<string, unknown>();
    return Far('mapStore', storeMethods(label, {
      read: (encoded) => (map.has(encoded) ? { value: map.get(encoded) } : absent),
      write(encoded, value) {
        passStyleOf(value as never);
        map.set(encoded, value);
      },
      remove: (encoded) => map.delete(encoded),
      encodedKeys: () => [...map.keys()].sort(byBytes),
    }));
  }

  function kindHandle(id: number, tag: string): object {
    return remember(Far(`kind handle ${tag}`, {}), `o+d${kindHandleKind}/${id}`);
  }

  /** A kind's object over `values`, and the context its methods get; `state` undefined for a kind that is not durable. */
  function makeInstance(definition: KindDefinition, state: InstanceState | undefined, values: Record<string, unknown>): { self: object; context: object } {
    const stateObject: Record<string, unknown> = {};
    for (const name of Object.keys(values)) {
      Object.defineProperty(stateObject, name, {
        enumerable: true,
        get: () => values[name],
        set(value: unknown) {
          if (state === undefined) {
            passStyleOf(value as never);
          } else {
            // Checked now, so the vat hears at once that it cannot keep this.
            toData(value);
            dirty.add(state);
          }
          values[name] = value;
        },
      });
    }
    Object.freeze(stateObject);
    const context: { state: Record<string, unknown>; self: object | undefined } = { state: stateObject, self: undefined };
    const methods: Record<string, (...args: unknown[]) => unknown> = {};
    for (const [name, method] of Object.entries(definition.behavior)) {
      if (typeof method !== 'function') throw new TypeError(`behavior ${name} of kind ${definition.tag} is not a function`);
      methods[name] = { [name]: (...args: unknown[]) => method(context, ...args) }[name] as (...args: unknown[]) => unknown;
    }
    const self = Far(definition.tag, methods);
    context.self = self;
    Object.freeze(context);
    if (state !== undefined) remember(self, state.vref);
    return { self, context };
  }

  function defineKind(durable: boolean, kindId: number, tag: string, init: unknown, behavior: unknown, options: unknown) {
    if (typeof init !== 'function') throw new TypeError(`the init of kind ${tag} is not a function`);
    if (typeof behavior !== 'object' || behavior === null) throw new TypeError(`the behavior of kind ${tag} is not an object of methods`);
    const { finish, ...rest } = (options ?? {}) as { finish?: unknown };
    const unsupported = Object.keys(rest);
    if (unsupported.length > 0) throw new TypeError(`a lean vat's kinds take only the option finish, not ${unsupported.join(', ')} (that needs the liveslots runtime)`);
    if (finish !== undefined && typeof finish !== 'function') throw new TypeError(`finish of kind ${tag} is not a function`);
    const definition: KindDefinition = {
      tag,
      durable,
      init: init as KindDefinition['init'],
      behavior: behavior as KindDefinition['behavior'],
      finish: finish as KindDefinition['finish'],
    };
    if (durable) kinds.set(kindId, definition);
    return (...args: unknown[]) => {
      const values = { ...definition.init(...args) };
      let state: InstanceState | undefined;
      if (durable) {
        state = { vref: `o+d${kindId}/${ids.next(`kind${kindId}`, 1)}`, values };
        syscall().vatstoreSet(`s.${state.vref}`, toData(harden({ ...values })));
      } else {
        for (const value of Object.values(values)) passStyleOf(value as never);
      }
      const { self, context } = makeInstance(definition, state, values);
      definition.finish?.(context);
      return self;
    };
  }

  const lookup: DurableLookup = {
    revive(vref) {
      const live = revived.get(vref)?.deref();
      if (live !== undefined) return live;
      const [kindText, idText] = vref.slice(3).split('/') as [string, string];
      const kindId = Number(kindText);
      const id = Number(idText);
      if (kindId === storeKind) {
        const label = syscall().vatstoreGet(`c.${id}`);
        if (label === undefined && id !== 0) throw new Error(`durable store ${vref} does not exist`);
        return durableStore(id, label === undefined ? 'baggage' : (JSON.parse(label) as string));
      }
      if (kindId === kindHandleKind) {
        const tag = syscall().vatstoreGet(`k.${id}`);
        if (tag === undefined) throw new Error(`kind handle ${vref} does not exist`);
        return kindHandle(id, JSON.parse(tag) as string);
      }
      const definition = kinds.get(kindId);
      if (definition === undefined) {
        const tag = syscall().vatstoreGet(`k.${kindId}`);
        throw new Error(`durable object ${vref} is of kind ${tag ?? kindId}, which this incarnation has not defined (buildRootObject must call defineDurableKind for it)`);
      }
      const text = syscall().vatstoreGet(`s.${vref}`);
      if (text === undefined) throw new Error(`durable object ${vref} does not exist`);
      const values = { ...(fromData(text) as Record<string, unknown>) };
      return makeInstance(definition, { vref, values }, values).self;
    },
    holdImport(vref) {
      if (heldImports.has(vref)) return;
      heldImports.add(vref);
      syscall().vatstoreSet(`r.${vref}`, '1');
    },
    holdsImport(vref) {
      if (heldImports.has(vref)) return true;
      if (syscall().vatstoreGet(`r.${vref}`) === undefined) return false;
      heldImports.add(vref);
      return true;
    },
  };

  return {
    lookup,
    baggage: () => lookup.revive(`o+d${storeKind}/0`),
    makeStore(label: unknown, options: unknown): object {
      const name = typeof label === 'string' ? label : 'map';
      const { durable, ...rest } = (options ?? {}) as { durable?: unknown };
      const unsupported = Object.keys(rest);
      if (unsupported.length > 0) throw new TypeError(`a lean vat's map stores take only the option durable, not ${unsupported.join(', ')} (that needs the liveslots runtime)`);
      if (durable !== true) return ephemeralStore(name);
      const id = ids.next('store', 1);
      syscall().vatstoreSet(`c.${id}`, JSON.stringify(name));
      return durableStore(id, name);
    },
    makeKindHandle(tag: unknown): object {
      if (typeof tag !== 'string') throw new TypeError('a kind handle takes a tag string');
      const id = ids.next('kind', firstUserKind);
      syscall().vatstoreSet(`k.${id}`, JSON.stringify(tag));
      return kindHandle(id, tag);
    },
    defineDurableKind(handle: unknown, init: unknown, behavior: unknown, options?: unknown) {
      const vref = typeof handle === 'object' && handle !== null ? slots().vrefOf(handle) : undefined;
      if (vref === undefined || !vref.startsWith(`o+d${kindHandleKind}/`)) throw new TypeError('defineDurableKind takes a kind handle (VatData.makeKindHandle)');
      const kindId = Number(vref.slice(`o+d${kindHandleKind}/`.length));
      if (kinds.has(kindId)) throw new Error(`durable kind ${kinds.get(kindId)?.tag} is defined twice in this incarnation`);
      const tag = JSON.parse(syscall().vatstoreGet(`k.${kindId}`) ?? '"kind"') as string;
      return defineKind(true, kindId, tag, init, behavior, options);
    },
    defineKind(tag: unknown, init: unknown, behavior: unknown, options?: unknown) {
      if (typeof tag !== 'string') throw new TypeError('defineKind takes a tag string');
      return defineKind(false, 0, tag, init, behavior, options);
    },
    /** At the end of startVat: every durable kind an earlier incarnation made must be defined again. */
    assertKindsDefined(): void {
      for (const key of vatstoreKeys('k.')) {
        const kindId = Number(key.slice(2));
        if (!kinds.has(kindId)) {
          throw new Error(`durable kind ${syscall().vatstoreGet(key)} was not defined again by buildRootObject: its objects could not be used`);
        }
      }
    },
    /** Writes the state of every durable object the delivery changed. */
    flush(): void {
      for (const state of dirty) syscall().vatstoreSet(`s.${state.vref}`, toData(harden({ ...state.values })));
      dirty.clear();
    },
  };
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
