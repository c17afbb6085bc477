import path from 'node:path';

/**
 * What a node keeps in its data directory. The key is who the node is; the
 * store holds all of its state; the rest is how to run it and how to reach it.
 */
export interface DataDirFiles {
  directory: string;
  /** The node's libp2p private key: its peer id, kept apart from the store so that a lost store does not change who the node is. */
  key: string;
  /** The configuration (`ken-node init` writes it). */
  config: string;
  /** The SQLite store: every commit. WAL mode adds `-wal` and `-shm` files beside it. */
  store: string;
  /** The admin endpoint's bearer token. */
  adminToken: string;
  /** Where a running node says its admin endpoint listens (written at start, removed at a clean stop). */
  adminEndpoint: string;
  /** Held by the running node (an OS lock, dropped when the process dies), so that only one runs on the directory. */
  lock: string;
  /** The delivery in progress (store/deliveryMarker.ts): what the next start blames if the process dies in one. */
  deliveryMark: string;
}

/** The files of a node's data directory, by their usual names, with `directory` made absolute. */
export function dataDirFiles(directory: string): DataDirFiles {
  const absolute = path.resolve(directory);
  return {
    directory: absolute,
    key: path.join(absolute, 'node.key'),
    config: path.join(absolute, 'ken-node.json'),
    store: path.join(absolute, 'kernel.sqlite'),
    adminToken: path.join(absolute, 'admin-token'),
    adminEndpoint: path.join(absolute, 'admin.json'),
    lock: path.join(absolute, 'node.lock'),
    deliveryMark: path.join(absolute, 'delivery.mark'),
  };
}

/**
 * The files of a data directory that hold a secret, for the owner alone
 * (0600): `init` makes them so and `start` refuses them otherwise. The key
 * file is the node's identity; the store and its WAL hold every state (the `-shm` index
 * is part of the store too: who may write it may corrupt it); the admin
 * token is the node's admin authority; the config holds `peers`, ocap URLs,
 * which are bearer capabilities. `admin.json` (an address and a pid) and
 * `node.lock` (empty) are not secrets.
 */
export function secretFiles(files: DataDirFiles): string[] {
  return [files.key, files.config, files.store, `${files.store}-wal`, `${files.store}-shm`, files.adminToken];
}
