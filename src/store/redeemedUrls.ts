import type { SqliteDatabase, TransactionControl } from './db.js';
import type { KRef } from './types.js';

/**
 * Ocap URLs of other nodes that the operator's `ken-node send` redeemed,
 * and the presence each gave, so that a URL is redeemed once. Kept by the
 * SHA-256 of the URL's swiss number and peer id (the `sha256` SQL function
 * of db.ts): the store need not hold another node's secrets.
 */
export function makeRedeemedUrlStore(db: SqliteDatabase, tx: TransactionControl) {
  const insert = tx.direct(db.prepare<[string, string]>('INSERT INTO redeemed_urls (url_sha256, kref) VALUES (sha256(?), ?)'));
  const select = db.prepare<[string], { kref: KRef }>('SELECT kref FROM redeemed_urls WHERE url_sha256 = sha256(?)');
  return {
    /** Remembers what the URL named by `key` (its swiss number and peer id) gave; part of the caller's transaction. */
    remember(key: string, kref: KRef): void {
      insert.run(key, kref);
    },
    lookup(key: string): KRef | undefined {
      return select.get(key)?.kref;
    },
  };
}

export type RedeemedUrlStore = ReturnType<typeof makeRedeemedUrlStore>;
