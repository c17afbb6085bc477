import { renameSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { syncDirectoryOf, syncPath } from '../util/atomicFile.js';
import { createPrivateFile } from '../util/fileModes.js';
import { openStore } from './index.js';
import { storageErrorOf } from './storageError.js';

/**
 * Copies the store `storeFile` into `to` (which must not exist), mode
 * 0600, as one consistent snapshot, whether or not a node runs on it:
 * `VACUUM INTO` reads in one read transaction, so the copy is the store as
 * of one commit, and the node's writes go on meanwhile (WAL). Durable
 * (the file and its directory fsynced) before it returns its size.
 */
export function backUpStore(storeFile: string, to: string): number {
  createPrivateFile(to);
  try {
    const db = new Database(storeFile, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      db.prepare('VACUUM INTO ?').run(to);
    } finally {
      db.close();
    }
    syncPath(to);
    syncDirectoryOf(to);
  } catch (error) {
    rmSync(to, { force: true });
    throw storageErrorOf(error, `backing up ${storeFile}`) ?? error;
  }
  return statSync(to).size;
}

/** What a backup file holds, as far as a restore must know before it puts it in place. */
export interface BackupFacts {
  /** The peer id the store belongs to; undefined for a store from before the key file. */
  peerId: string | undefined;
}

/**
 * Puts the backup `from` in place of the store `storeFile` (no node may be
 * running on it: the caller holds the data directory's lock), marked so
 * that its next start makes it a new incarnation. The copy is opened
 * first, which checks it (SQLite's quick_check, the schema, migrations
 * forward) and `accept` judges what it holds; only then is the current
 * store, with its WAL, replaced: the WAL goes first, since SQLite would
 * otherwise apply it to the restored file. Durable before it returns.
 */
export function restoreStore(storeFile: string, from: string, note: string, accept: (facts: BackupFacts) => void): void {
  const copy = `${storeFile}.restoring`;
  for (const file of [copy, `${copy}-wal`, `${copy}-shm`]) rmSync(file, { force: true });
  createPrivateFile(copy);
  try {
    const source = new Database(from, { readonly: true, fileMustExist: true });
    try {
      source.prepare('VACUUM INTO ?').run(copy);
    } finally {
      source.close();
    }
    const store = openStore({ path: copy, durability: 'fsync' });
    try {
      accept({ peerId: store.meta.get('node.peerId') });
      store.meta.markRestored(note);
    } finally {
      store.close();
    }
    syncPath(copy);
  } catch (error) {
    for (const file of [copy, `${copy}-wal`, `${copy}-shm`]) rmSync(file, { force: true });
    throw storageErrorOf(error, `restoring from ${from}`) ?? error;
  }
  for (const file of [`${storeFile}-wal`, `${storeFile}-shm`]) rmSync(file, { force: true });
  renameSync(copy, storeFile);
  syncDirectoryOf(storeFile);
}
