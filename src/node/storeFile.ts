import { existsSync, rmSync, statSync } from 'node:fs';
import type { DataDirFiles } from '../config/dataDir.js';
import { ConfigError } from '../config/errors.js';
import { openStore, type Durability, type KernelStore } from '../store/index.js';
import { StartRefusedError } from './startErrors.js';

/** The option that starts an empty store under the node's key, as a new incarnation. */
export const newIncarnationFlag = '--new-incarnation';

/** True if `file` holds a store: it exists and is not empty (SQLite would take an empty file for a new store). */
export function holdsStore(file: string): boolean {
  return existsSync(file) && statSync(file).size > 0;
}

/**
 * The store of a new data directory (`init`): made now, so that `start`
 * can tell a store that vanished from one that never was.
 */
export function createStore(file: string, durability: Durability, peerId: string): void {
  const store = openStore({ path: file, durability });
  try {
    store.meta.incarnation();
    refuseForeignStore(store, peerId);
  } finally {
    store.close();
  }
}

/**
 * A store remembers the peer id it first ran under; under another one its
 * c-lists, sequence numbers and peers' incarnations would be lies told to
 * every peer. Written at open time in a transaction of its own (`provide`).
 */
export function refuseForeignStore(store: KernelStore, peerId: string): void {
  const owner = store.meta.provide('node.peerId', () => peerId);
  if (owner !== peerId) {
    throw new StartRefusedError(`the store belongs to peer ${owner}, but this node's key is peer ${peerId}: put back the store or the key that go together`);
  }
}

/**
 * `init` made a store, so a data directory without one (missing, or
 * emptied) lost it: starting would silently make a new, empty node under
 * the same name. Refused unless the operator says so; then the leftovers of
 * the lost store (its `-wal` and `-shm`, which SQLite could otherwise
 * apply to the new one) are removed first.
 */
export function checkStorePresence(files: DataDirFiles, newIncarnation: boolean): void {
  if (holdsStore(files.store)) {
    if (newIncarnation) {
      throw new ConfigError(`${newIncarnationFlag} starts an empty store, but ${files.store} holds one: move it away first if its state is to be dropped`);
    }
    return;
  }
  const what = existsSync(files.store) ? 'is empty (0 bytes)' : 'is missing';
  if (!existsSync(files.key)) {
    throw new StartRefusedError(`the store ${files.store} ${what} and so is the key ${files.key}: this node's identity and state are gone; make a new node with \`ken-node init\` in another directory`);
  }
  if (newIncarnation) {
    for (const leftover of [`${files.store}-wal`, `${files.store}-shm`]) rmSync(leftover, { force: true });
    return;
  }
  throw new StartRefusedError(
    `the store ${files.store} ${what}, but this data directory had one: the node's state is gone. Put it back, ` +
      `or start it empty under the same peer id, as a new incarnation whose peers learn that it forgot everything: ` +
      `ken-node start --data-dir ${files.directory} ${newIncarnationFlag}`,
  );
}
