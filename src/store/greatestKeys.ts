import type { SqliteDatabase } from './db.js';
import type { VatId } from './types.js';
import { compareKeys } from './keyOrder.js';

/** Prefixes whose greatest key is kept at most; beyond, the oldest known go (their lookups read SQLite again). */
const maxPrefixes = 1024;

/**
 * Per vat and key prefix (a key up to its last `.` and the character after
 * it: a collection's entries of one key type, `c.3.n` or `vc.5.f`, apart
 * from its other keys, such as liveslots' `vc.5.|entryCount`), the greatest
 * key SQLite holds: a key above it is in no row, and its lookup needs no
 * statement. A collection's new entries mostly come in key order (a log,
 * numbered records), so the lookup an `init` makes to see that its key is
 * free mostly needs none.
 *
 * A prefix's greatest key is read from SQLite (the last key of its range,
 * on the primary key) at its first lookup, then raised by every key written
 * under it: it is never below what SQLite holds. It never falls (a deleted
 * key, a rolled-back write leave it high), which only sends more lookups to
 * SQLite.
 */
export class GreatestKeys {
  /** By `vatId prefix`: the greatest key, or null for a range SQLite holds nothing in. In order of first lookup. */
  readonly #greatest = new Map<string, string | null>();
  readonly #read: (vatId: string, from: string, below: string) => string | undefined;

  constructor(db: SqliteDatabase) {
    const last = db.prepare<[string, string, string], { key: string }>(
      'SELECT key FROM vatstore WHERE vat_id = ? AND key >= ? AND key < ? ORDER BY key DESC LIMIT 1',
    );
    this.#read = (vatId, from, below) => last.get(vatId, from, below)?.key;
  }

  /** True if SQLite holds no row of `vatId` with `key` (false: it may). */
  isAbove(vatId: VatId, key: string): boolean {
    const prefix = prefixOf(key);
    if (prefix === undefined) return false;
    const id = `${vatId} ${prefix}`;
    let greatest = this.#greatest.get(id);
    if (greatest === undefined) {
      // Keys under `prefix` (which ends with an ASCII character) are those from it up to the same with the next character in place of that one.
      greatest = this.#read(vatId, prefix, `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`) ?? null;
      this.#greatest.set(id, greatest);
      if (this.#greatest.size > maxPrefixes) this.#greatest.delete(this.#greatest.keys().next().value as string);
    }
    return greatest === null || compareKeys(key, greatest) > 0;
  }

  /** `key` of `vatId` is being written to SQLite. */
  written(vatId: VatId, key: string): void {
    const prefix = prefixOf(key);
    if (prefix === undefined) return;
    const id = `${vatId} ${prefix}`;
    const greatest = this.#greatest.get(id);
    // Not read yet (or forgotten): its first lookup reads this key with the rest.
    if (greatest === undefined) return;
    if (greatest === null || compareKeys(key, greatest) > 0) this.#greatest.set(id, key);
  }
}

/** The key up to its last '.' and the character after it; undefined if it has none, or if that character is not ASCII (the range's end is then simple to name). */
function prefixOf(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  if (dot < 0 || dot + 1 >= key.length || key.charCodeAt(dot + 1) >= 0x7f) return undefined;
  return key.slice(0, dot + 2);
}
