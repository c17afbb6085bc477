import { randomBytes } from 'node:crypto';
import { assert } from '../util/assert.js';
import type { SqliteDatabase } from './db.js';

/** Names of the kernel's id counters. */
export type CounterName = 'ko' | 'kp' | 'vat';

/** Kernel-wide counters and the store's incarnation. */
export function makeMetaStore(db: SqliteDatabase) {
  const bump = db.prepare<[string], { value: string }>(
    `INSERT INTO kernel_meta (key, value) VALUES (?, '1')
     ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
     RETURNING value`,
  );
  const read = db.prepare<[string], { value: string }>('SELECT value FROM kernel_meta WHERE key = ?');
  const write = db.prepare<[string, string]>(
    'INSERT INTO kernel_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );

  return {
    /** Returns the next id for `counter` (1, 2, ...); part of the caller's transaction. */
    allocate(counter: CounterName): number {
      const row = bump.get(`next.${counter}`);
      assert(row !== undefined, 'counter bump returned no row');
      return Number(row.value);
    },

    /**
     * The store's incarnation: random, made once when the store is created.
     * A wiped store gets a new one, which is how peers detect amnesia.
     * Written in a transaction of its own at open time: it is created before
     * any crank can run, and re-reading it after a crash gives the same value.
     */
    incarnation(): string {
      const existing = read.get('incarnation');
      if (existing !== undefined) {
        return existing.value;
      }
      const fresh = randomBytes(16).toString('hex');
      db.transaction(() => write.run('incarnation', fresh))();
      return fresh;
    },
  };
}

export type MetaStore = ReturnType<typeof makeMetaStore>;
