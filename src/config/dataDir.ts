import path from 'node:path';

/**
 * What a node keeps in its data directory. The store holds all of its
 * state, its key included; the rest is how to run it and how to reach it.
 */
export interface DataDirFiles {
  directory: string;
  /** The configuration (`ken-node init` writes it). */
  config: string;
  /** The SQLite store: the node's key and every commit. WAL mode adds `-wal` and `-shm` files beside it. */
  store: string;
  /** The admin endpoint's bearer token. */
  adminToken: string;
  /** Where a running node says its admin endpoint listens (written at start, removed at a clean stop). */
  adminEndpoint: string;
  /** Held by the running node (an OS lock, dropped when the process dies), so that only one runs on the directory. */
  lock: string;
}

/** The files of a node's data directory, by their usual names, with `directory` made absolute. */
export function dataDirFiles(directory: string): DataDirFiles {
  const absolute = path.resolve(directory);
  return {
    directory: absolute,
    config: path.join(absolute, 'ken-node.json'),
    store: path.join(absolute, 'kernel.sqlite'),
    adminToken: path.join(absolute, 'admin-token'),
    adminEndpoint: path.join(absolute, 'admin.json'),
    lock: path.join(absolute, 'node.lock'),
  };
}

/**
 * The files of a data directory that hold a secret, for the owner alone
 * (0600): `init` makes them so and `start` refuses them otherwise. The store
 * and its WAL hold the node's private key and every state (the `-shm` index
 * is part of the store too: who may write it may corrupt it); the admin
 * token is the node's admin authority; the config holds `peers`, ocap URLs,
 * which are bearer capabilities. `admin.json` (an address and a pid) and
 * `node.lock` (empty) are not secrets.
 */
export function secretFiles(files: DataDirFiles): string[] {
  return [files.config, files.store, `${files.store}-wal`, `${files.store}-shm`, files.adminToken];
}
