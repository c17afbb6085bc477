import type { SqliteDatabase } from './db.js';
import type { EndpointId } from './types.js';

/** A numbered ref: its kind and sign, or kernel prefix (`o+`, `p-`, `ko`, `kp`), and its number. `o+d12/3` and the like are not numbered. */
const numberedRef = /^([op][+-]|k[op])([1-9][0-9]{0,15})$/;

/**
 * Per endpoint, the highest number of each prefix among the refs of one
 * c-list column that SQLite holds: a ref numbered above it is in no row,
 * and its lookup needs no statement. Most c-list lookups that miss are of
 * refs just allocated (a vat's new result promise, a peer's new export, a
 * kernel promise reaching a vat for the first time), numbered above every
 * older one.
 *
 * An endpoint's numbers are read from SQLite (one aggregate over its rows,
 * on the index) at its first lookup, then raised by every row written to
 * the column: they never fall below what SQLite holds. They never fall at
 * all (a deleted row, a rolled-back write leave them high), which only
 * sends more lookups to SQLite.
 */
export class HighestRefs {
  readonly #byEndpoint = new Map<EndpointId, Map<string, number>>();
  readonly #read: (endpoint: string) => { prefix: string; highest: number }[];

  /** `column`: `kref` or `eref`, the c-list column whose refs are counted. */
  constructor(db: SqliteDatabase, column: 'kref' | 'eref') {
    // Not numbered refs cast to 0 or to a leading number; either only raises the highest, which is safe.
    const read = db.prepare<[string], { prefix: string; highest: number }>(
      `SELECT substr(${column}, 1, 2) AS prefix, MAX(CAST(substr(${column}, 3) AS INTEGER)) AS highest FROM clist WHERE endpoint = ? GROUP BY prefix`,
    );
    this.#read = (endpoint) => read.all(endpoint);
  }

  /** True if SQLite holds no row of `endpoint` with this ref in the column (false: it may). */
  isAbove(endpoint: EndpointId, ref: string): boolean {
    const match = numberedRef.exec(ref);
    if (match === null) return false;
    let highest = this.#byEndpoint.get(endpoint);
    if (highest === undefined) {
      highest = new Map(this.#read(endpoint).map((row) => [row.prefix, row.highest]));
      this.#byEndpoint.set(endpoint, highest);
    }
    return Number(match[2]) > (highest.get(match[1] as string) ?? 0);
  }

  /** A row with `ref` in the column is being written to SQLite. */
  written(endpoint: EndpointId, ref: string): void {
    const highest = this.#byEndpoint.get(endpoint);
    // Not read yet: its first lookup reads this row with the rest.
    if (highest === undefined) return;
    const match = numberedRef.exec(ref);
    if (match === null) return;
    const number = Number(match[2]);
    if (number > (highest.get(match[1] as string) ?? 0)) highest.set(match[1] as string, number);
  }
}
