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
  /** The admin endpoint's bearer token (mode 0600). */
  adminToken: string;
  /** Where a running node says its admin endpoint listens (written at start, removed at a clean stop). */
  adminEndpoint: string;
  /** Held by the running node (an OS lock, dropped when the process dies), so that only one runs on the directory. */
  lock: string;
}

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
