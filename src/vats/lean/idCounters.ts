import type { VatSyscall } from '../types.js';

/** The vatstore key of a lean vat's id counters. */
const countersKey = 'ids';

/**
 * How many ids a counter reserves at a time. A lean vat writes its counters
 * only when one crosses a reserved block, not on every allocation; a restart
 * resumes each counter at the end of its block, so an id is never handed out
 * twice (the skipped ones are never used). What must never repeat: `p+N`
 * (a promise of an earlier incarnation may still be in the vat's c-list),
 * durable store, kind and durable object numbers.
 */
const block = 256;

/** Named counters that survive restarts (see {@link block}). */
export interface IdCounters {
  /** Reads the reservations the last incarnation wrote; at startVat. */
  load(): void;
  /** The next id of counter `name`, from `first` for a counter never used. */
  next(name: string, first: number): number;
  /** Writes the reservations if a block was taken in this delivery. */
  flush(): void;
}

export function makeIdCounters(syscall: () => VatSyscall): IdCounters {
  let reserved: Record<string, number> = {};
  const next: Record<string, number> = {};
  let dirty = false;
  return {
    load() {
      const raw = syscall().vatstoreGet(countersKey);
      reserved = raw === undefined ? {} : (JSON.parse(raw) as Record<string, number>);
      for (const [name, upTo] of Object.entries(reserved)) next[name] = upTo;
    },
    next(name, first) {
      const id = next[name] ?? first;
      next[name] = id + 1;
      if (id >= (reserved[name] ?? first)) {
        reserved[name] = id + block;
        dirty = true;
      }
      return id;
    },
    flush() {
      if (!dirty) return;
      syscall().vatstoreSet(countersKey, JSON.stringify(reserved));
      dirty = false;
    },
  };
}
